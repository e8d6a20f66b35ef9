import BridgeStore
import BridgeStoreSQLite
import Foundation
import Logging
import Testing

@testable import BridgeCore
@testable import BridgeDelivery
@testable import BridgeMapping
@testable import BridgeVerification

/// Issue 18, point 5: a certificate that cannot be fetched is answered 503 (SNS retries) and counts as a refusal
/// of the client that named it; a spent fetch budget does not.
@Suite("SNS certificate failures count as refusals", .serialized)
struct SNSFetchRefusalTests {
    @Test func aFailedCertificateCountsAgainstItsClient() async throws {
        let dir = try SNSEndToEndTests.pki()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (source, diagnostics) = RuleLoader(environment: ["AWS_SNS_TOPIC_ARN": SNSEndToEndTests.topic]).load(
            file: "aws-sns.yaml", text: SNSEndToEndTests.rules)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let store = try await SQLiteDeliveryStore.open(path: dir + "/data/bridge.sqlite", logger: Logger(label: "t"))
        let ingestor = Ingestor(
            rules: RuleSet(sources: [try #require(source)]), store: store, mapper: Mapper(defaultStreamToken: nil),
            metrics: NoMetrics(), logger: Logger(label: "t"), limiter: RefusalLimiter(limitPerMinute: 2),
            dedupeWindow: 36500 * 86400,
            // Not seeded: the certificate must be fetched, and the fetch fails.
            snsCertificates: SNSCertificateCache(
                persistentDirectory: nil, failureCooldown: 3600, fetchesPerMinute: 100, fetchWindowLength: 3600
            ) { _ in
                throw URLError(.cannotConnectToHost)
            })
        let event = #"{"time":"2024-05-01T14:02:00Z","detail":{"pipeline":"api-prod","state":"SUCCEEDED"}}"#
        let body = try SNSEndToEndTests.signed(dir, message: event)
        // One receipt time for all: the limiter's minute cannot end during a slow, loaded run.
        let receivedAt = Date()
        func request(from address: String) -> IncomingRequest {
            IncomingRequest(
                source: "aws-sns", method: "POST", path: "/hooks/aws-sns", query: [],
                headers: HeaderBag([("x-amz-sns-message-type", "Notification")]), body: body,
                clientAddress: address, receivedAt: receivedAt)
        }
        let first = await ingestor.ingest(request(from: "192.0.2.1"))
        #expect(first.statusCode == 503)
        #expect(first.retryAfter != nil)
        #expect(await ingestor.ingest(request(from: "192.0.2.1")).statusCode == 503)
        #expect(await ingestor.ingest(request(from: "192.0.2.1")).statusCode == 429)
        #expect(await ingestor.ingest(request(from: "192.0.2.2")).statusCode == 503)
        #expect(ingestor.refusals.recent(limit: 10, source: nil).first?.reason == "certificate_unavailable")
        await store.close()
    }
}
