import AsyncHTTPClient
import BridgeStore
import Foundation
import Logging
import NIOCore
import Testing

@testable import BridgeCore
@testable import BridgeDelivery
@testable import BridgeMapping
@testable import BridgeStoreSQLite
@testable import BridgeVerification

/// An SNS topic's HTTPS subscription, end to end: a signed notification becomes an event; a confirmation is
/// answered 200 and logged; a topic not listed is refused 403. Certificates come from AWS_SNS_CERT_DIR.
@Suite("Amazon SNS end to end", .serialized)
struct SNSEndToEndTests {
    static let topic = "arn:aws:sns:us-east-1:123456789012:deploys"
    static let rules = """
        source: aws-sns
        verify:
          preset: aws-sns
          topics: ["${AWS_SNS_TOPIC_ARN}"]
        rules:
          - name: pipeline
            when:
              message.detail.state: [SUCCEEDED, FAILED]
            event:
              type: deploy
              time: message.time
              description: "{{ message.detail.pipeline }}: {{ message.detail.state | lower }}"
        """

    /// Makes a signing key and certificate with the openssl CLI, seeded as AWS_SNS_CERT_DIR expects.
    static func pki() throws -> String {
        let dir = NSTemporaryDirectory() + "ctb-sns-e2e-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/seeds", withIntermediateDirectories: true)
        _ = try openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/key.pem", "-out",
            "\(dir)/seeds/SimpleNotificationService-e2e.pem", "-days", "2", "-subj", "/CN=sns.amazonaws.com",
        ])
        return dir
    }

    static func openssl(_ args: [String], input: [UInt8] = []) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = args
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        return Array(out)
    }

    static func signed(
        _ dir: String, type: String = "Notification", topic: String = topic, message: String,
        timestamp: String = "2024-05-01T14:03:00.000Z"
    ) throws -> [UInt8] {
        var fields: [String: JSONValue] = [
            "Type": .string(type), "MessageId": .string(UUID().uuidString), "TopicArn": .string(topic),
            "Message": .string(message), "Timestamp": .string(timestamp),
            "SignatureVersion": .string("2"),
            "SigningCertURL": .string("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-e2e.pem"),
            "Signature": .string("x"),
        ]
        if type == "SubscriptionConfirmation" {
            fields["Token"] = .string("2336412f37fb")
            fields["SubscribeURL"] = .string(
                "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=\(topic)&Token=2336412f37fb")
        }
        let unsigned = try SNSMessage.parse(Array(JSONValue.object(fields).json.utf8))
        let signature = try openssl(["dgst", "-sha256", "-sign", "\(dir)/key.pem"], input: unsigned.bytesToSign)
        fields["Signature"] = .string(Data(signature).base64EncodedString())
        return Array(JSONValue.object(fields).json.utf8)
    }

    func post(_ h: BridgeHarness, _ body: [UInt8], type: String = "Notification") async throws -> BridgeHarness.Answer {
        let id = (try? JSONValue.parse(body))?["MessageId"]?.text ?? ""
        return try await h.post(
            "/hooks/aws-sns",
            headers: [
                ("Content-Type", "text/plain; charset=UTF-8"), ("x-amz-sns-message-type", type),
                ("x-amz-sns-message-id", id),
            ], body: body)
    }

    @Test func aSignedNotificationIsMappedThroughItsMessage() async throws {
        let dir = try Self.pki()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let h = try await BridgeHarness(rules: ["aws-sns.yaml": Self.rules]) {
            $0.environment = ["AWS_SNS_TOPIC_ARN": Self.topic, "AWS_SNS_CERT_DIR": dir + "/seeds"]
        }
        try await h.start()
        let event = #"{"time":"2024-05-01T14:02:00Z","detail":{"pipeline":"api-prod","state":"SUCCEEDED"}}"#
        let body = try Self.signed(dir, message: event)
        let answer = try await post(h, body)
        #expect(answer.status == 202, "\(answer.text)")
        #expect(answer.body?["events"] == .number(1))
        // SNS retries keep the MessageId: a redelivery is a duplicate.
        #expect(try await post(h, body).status == 200)
        await h.eventually("annotated") { h.fake.events.count == 1 }
        #expect(h.fake.events.first?["payload"]?["description"] == .string("api-prod: succeeded"))
        // A forged message, and one from a topic not listed.
        var forged = try JSONValue.parse(body)
        if case .object(var o) = forged {
            o["Message"] = .string(event.replacingOccurrences(of: "SUCCEEDED", with: "FAILED"))
            o["MessageId"] = .string(UUID().uuidString)
            forged = .object(o)
        }
        #expect(try await post(h, Array(forged.json.utf8)).status == 401)
        let elsewhere = try Self.signed(dir, topic: "arn:aws:sns:us-east-1:999999999999:other", message: event)
        #expect(try await post(h, elsewhere).status == 403)
        await h.finish()
    }

    @Test func aSubscriptionConfirmationIsAnswered200AndLogged() async throws {
        let dir = try Self.pki()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let h = try await BridgeHarness(rules: ["aws-sns.yaml": Self.rules]) {
            $0.environment = ["AWS_SNS_TOPIC_ARN": Self.topic, "AWS_SNS_CERT_DIR": dir + "/seeds"]
        }
        try await h.start()
        let body = try Self.signed(dir, type: "SubscriptionConfirmation", message: "You have chosen to subscribe")
        let answer = try await post(h, body, type: "SubscriptionConfirmation")
        #expect(answer.status == 200)
        #expect(h.logText.contains("SNS subscription to confirm"))
        #expect(h.logText.contains("Action=ConfirmSubscription"))
        #expect(try await h.bridge.store.deliveries(limit: 5, source: nil).isEmpty)
        await h.finish()
    }

    @Test func withConfirmSubscriptionsTheSubscribeURLIsVisitedOnce() async throws {
        let dir = try Self.pki()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rules = Self.rules.replacingOccurrences(
            of: "topics: [\"${AWS_SNS_TOPIC_ARN}\"]",
            with: "topics: [\"${AWS_SNS_TOPIC_ARN}\"]\n  confirm_subscriptions: true")
        let (source, diagnostics) = RuleLoader(environment: ["AWS_SNS_TOPIC_ARN": Self.topic]).load(
            file: "aws-sns.yaml", text: rules)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let store = try await SQLiteDeliveryStore.open(path: dir + "/data/bridge.sqlite", logger: Logger(label: "t"))
        let visited = Collected()
        let ingestor = Ingestor(
            rules: RuleSet(sources: [try #require(source)]), store: store, mapper: Mapper(defaultStreamToken: nil),
            metrics: NoMetrics(), logger: Logger(label: "t"),
            snsCertificates: SNSCertificateCache(persistentDirectory: nil, seedDirectory: dir + "/seeds") { _ in [] },
            visit: { url in visited.append(url.absoluteString) })
        let body = try Self.signed(dir, type: "SubscriptionConfirmation", message: "You have chosen to subscribe")
        func request() -> IncomingRequest {
            IncomingRequest(
                source: "aws-sns", method: "POST", path: "/hooks/aws-sns", query: [],
                headers: HeaderBag([("x-amz-sns-message-type", "SubscriptionConfirmation")]), body: body,
                clientAddress: "127.0.0.1", receivedAt: Date())
        }
        #expect(await ingestor.ingest(request()).statusCode == 200)
        #expect(await ingestor.ingest(request()).statusCode == 200)  // SNS may send it again: visited once
        #expect(visited.all.count == 1)
        #expect(visited.all.first?.hasPrefix("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription") == true)
        await store.close()
    }
}
