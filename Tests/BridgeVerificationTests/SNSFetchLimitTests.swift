import Foundation
import Synchronization
import Testing

@testable import BridgeCore
@testable import BridgeVerification

/// Issue 18, point 5: SNS certificate fetches are bounded: one at a time per URL, a global budget per minute, and a
/// bounded memory of failures.
@Suite("SNS certificate fetch limits")
struct SNSFetchLimitTests {
    static func url(_ i: Int) -> String { "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x\(i).pem" }

    @Test func fetchesAreBoundedPerMinuteForAllURLs() async throws {
        let fetched = Atomic<Int>(0)
        // An hour's window: a slow, loaded test run cannot cross it.
        let cache = SNSCertificateCache(
            persistentDirectory: nil, failureCooldown: 3600, fetchesPerMinute: 3, fetchWindowLength: 3600
        ) { _ in
            fetched.add(1, ordering: .relaxed)
            throw URLError(.cannotConnectToHost)
        }
        var reasons: [VerificationError.Reason] = []
        for i in 0..<10 {
            do {
                _ = try await cache.certificate(for: Self.url(i))
            } catch let error as VerificationError {
                reasons.append(error.reason)
            }
        }
        #expect(fetched.load(ordering: .relaxed) == 3)
        #expect(reasons.filter { $0 == .certificateUnavailable }.count == 3)
        #expect(reasons.filter { $0 == .certificateBudgetSpent }.count == 7)
        // A URL refused for the budget is not remembered as failed.
        #expect(await cache.rememberedFailures == 3)
    }

    @Test func failuresRememberedAreBounded() async throws {
        let cache = SNSCertificateCache(persistentDirectory: nil, maximumFailures: 4, fetchesPerMinute: 1000) { _ in
            throw URLError(.cannotConnectToHost)
        }
        for i in 0..<50 { _ = try? await cache.certificate(for: Self.url(i)) }
        #expect(await cache.rememberedFailures <= 4)
        #expect(await cache.fetchCount == 50)
    }

    @Test func oneFetchAtATimePerURL() async throws {
        let fetched = Atomic<Int>(0)
        let cache = SNSCertificateCache(persistentDirectory: nil) { _ in
            fetched.add(1, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(200))
            throw URLError(.cannotConnectToHost)
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { _ = try? await cache.certificate(for: Self.url(1)) } }
        }
        #expect(fetched.load(ordering: .relaxed) == 1)
    }
}
