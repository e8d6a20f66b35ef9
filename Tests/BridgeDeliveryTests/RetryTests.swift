import Foundation
import Testing

@testable import BridgeCloudthread
@testable import BridgeDelivery

@Suite("Retry strategy")
struct RetryTests {
    @Test func fullJitterStaysWithinTheCapAndRetryAfterWins() {
        let r = RetryStrategy.exponentialJitter(base: 1, cap: 60, floor: 0.2)
        for attempt in 0..<20 {
            let d = r.delay(attempt: attempt, retryAfter: nil)
            #expect(d >= 0.2 && d <= min(60, pow(2, Double(attempt))) + 0.2)
        }
        #expect(r.delay(attempt: 0, retryAfter: 30) == 30)
        // Retry-After is honoured beyond the backoff cap, up to its own cap (1 hour by default).
        #expect(r.delay(attempt: 0, retryAfter: 1800) == 1800)
        #expect(r.delay(attempt: 0, retryAfter: 7200) == 3600)
        #expect(r.delay(attempt: 0, retryAfter: .infinity) <= 60)
        #expect(HTTPCloudthreadClient.parseRetryAfter("120") == 120)
        #expect(
            HTTPCloudthreadClient.parseRetryAfter(
                "Wed, 21 Oct 2015 07:28:00 GMT", now: Date(timeIntervalSince1970: 1_445_412_420)) == 60)
    }

    @Test func answersAreClassifiedAsTheDesignSays() {
        #expect(CloudthreadOutcome.classify(status: 201, body: "", retryAfter: nil) == .accepted)
        #expect(CloudthreadOutcome.classify(status: 400, body: "bad ts", retryAfter: nil) == .invalid("bad ts"))
        #expect(CloudthreadOutcome.classify(status: 404, body: "No team", retryAfter: nil) == .notFound("No team"))
        #expect(CloudthreadOutcome.classify(status: 401, body: "", retryAfter: nil) == .unauthorized(401))
        #expect(CloudthreadOutcome.classify(status: 403, body: "", retryAfter: nil) == .unauthorized(403))
        #expect(
            CloudthreadOutcome.classify(status: 429, body: "", retryAfter: 5)
                == .retry(reason: "HTTP 429", retryAfter: 5))
        #expect(
            CloudthreadOutcome.classify(status: 408, body: "", retryAfter: nil)
                == .retry(reason: "HTTP 408", retryAfter: nil))
        #expect(
            CloudthreadOutcome.classify(status: 503, body: "down", retryAfter: nil)
                == .retry(reason: "HTTP 503: down", retryAfter: nil))
    }
}
