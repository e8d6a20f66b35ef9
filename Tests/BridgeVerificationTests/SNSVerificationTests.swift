import Foundation
import Synchronization
import Testing

@testable import BridgeCore
@testable import BridgeVerification

/// Keys and certificates made for these tests with the openssl command line (nothing here is secret).
struct TestPKI: Sendable {
    let directory: String
    static let topic = "arn:aws:sns:us-east-1:123456789012:deploys"
    static let certURL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test0123.pem"

    static func make() throws -> TestPKI {
        let dir = NSTemporaryDirectory() + "ctb-sns-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for args in [
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/signer.key", "-out",
                "\(dir)/signer.pem",
                "-days", "2", "-subj", "/CN=sns.amazonaws.com",
            ],
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/other.key", "-out",
                "\(dir)/other.pem",
                "-days", "2", "-subj", "/CN=sns.amazonaws.com",
            ],
        ] {
            _ = try run("/usr/bin/openssl", args)
        }
        // Pre-seeded, as AWS_SNS_CERT_DIR holds them: named by the URL's last path segment.
        let seeds = dir + "/seeds"
        try FileManager.default.createDirectory(atPath: seeds, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: "\(dir)/signer.pem", toPath: "\(seeds)/SimpleNotificationService-test0123.pem")
        return TestPKI(directory: dir)
    }

    static func run(_ tool: String, _ args: [String], input: [UInt8] = []) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
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
        try #require(process.terminationStatus == 0, "\(tool) \(args.joined(separator: " ")) failed")
        return Array(out)
    }

    var seeds: String { directory + "/seeds" }
    var certificate: [UInt8] { Array(FileManager.default.contents(atPath: directory + "/signer.pem") ?? Data()) }

    /// An SNS message signed with `key` (`signer` or `other`).
    func message(
        type: String = "Notification", version: String = "2", subject: String? = "deploy",
        topic: String = TestPKI.topic,
        certURL: String = TestPKI.certURL, key: String = "signer",
        message: String = #"{"detail":{"state":"SUCCEEDED"}}"#,
        tamper: ((inout [String: JSONValue]) -> Void)? = nil
    ) throws -> [UInt8] {
        var fields: [String: JSONValue] = [
            "Type": .string(type), "MessageId": .string("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"),
            "TopicArn": .string(topic), "Message": .string(message), "Timestamp": .string("2024-05-01T14:00:00.000Z"),
            "SignatureVersion": .string(version), "SigningCertURL": .string(certURL),
            "UnsubscribeURL": .string("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"),
        ]
        if let subject { fields["Subject"] = .string(subject) }
        if type != "Notification" {
            fields["Token"] = .string("2336412f37fb687f5d51e6e2425c464de12884d6")
            fields["SubscribeURL"] = .string(
                "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=\(topic)&Token=2336")
        }
        let unsigned = try SNSMessage.parse(
            Array(JSONValue.object(fields.merging(["Signature": .string("x")]) { a, _ in a }).json.utf8))
        let signature = try TestPKI.run(
            "/usr/bin/openssl", ["dgst", version == "1" ? "-sha1" : "-sha256", "-sign", "\(directory)/\(key).key"],
            input: unsigned.bytesToSign)
        fields["Signature"] = .string(Data(signature).base64EncodedString())
        tamper?(&fields)
        return Array(JSONValue.object(fields).json.utf8)
    }
}

final class FetchLog: Sendable {
    let urls = Mutex<[String]>([])
    var count: Int { urls.withLock { $0.count } }
}

@Suite("Amazon SNS verification", .serialized)
struct SNSVerificationTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI.make() }

    func verifier(_ topics: [String] = [TestPKI.topic]) -> SignatureVerifier {
        SignatureVerifier(scheme: .awsSNS(topics: topics, confirmSubscriptions: false), secrets: [])
    }

    func cache(_ log: FetchLog = FetchLog(), seeded: Bool = true, serve: [UInt8]? = nil) -> SNSCertificateCache {
        SNSCertificateCache(persistentDirectory: nil, seedDirectory: seeded ? pki.seeds : nil) { url in
            log.urls.withLock { $0.append(url.absoluteString) }
            try await Task.sleep(for: .milliseconds(50))
            guard let serve else { throw URLError(.cannotConnectToHost) }
            return serve
        }
    }

    func request(_ body: [UInt8], type: String = "Notification") -> IncomingRequest {
        IncomingRequest(
            source: "aws-sns", method: "POST", path: "/hooks/aws-sns", query: [],
            headers: HeaderBag([("Content-Type", "text/plain; charset=UTF-8"), ("x-amz-sns-message-type", type)]),
            body: body, clientAddress: "127.0.0.1", receivedAt: Date())
    }

    func reason(_ body: [UInt8], verifier v: SignatureVerifier? = nil, cache c: SNSCertificateCache? = nil) async
        -> VerificationError.Reason?
    {
        do {
            _ = try await (v ?? verifier()).verifySNS(request(body), certificates: c ?? cache())
            return nil
        } catch let error as VerificationError {
            return error.reason
        } catch {
            return .badSignature
        }
    }

    @Test(arguments: ["1", "2"])
    func signedNotificationsVerify(version: String) async throws {
        #expect(await reason(try pki.message(version: version)) == nil)
        #expect(await reason(try pki.message(version: version, subject: nil)) == nil)
    }

    @Test(arguments: ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
    func confirmationsVerify(type: String) async throws {
        let body = try pki.message(type: type)
        let message = try await verifier().verifySNS(request(body, type: type), certificates: cache())
        #expect(message.type.rawValue == type)
        #expect(message.subscribeURL?.hasPrefix("https://sns.us-east-1.amazonaws.com/") == true)
    }

    @Test func forgeriesAreRefused() async throws {
        #expect(
            await reason(try pki.message { $0["Message"] = .string(#"{"detail":{"state":"FAILED"}}"#) })
                == .badSignature)
        #expect(await reason(try pki.message { $0["Subject"] = .string("other") }) == .badSignature)
        #expect(await reason(try pki.message { $0["Subject"] = nil }) == .badSignature)
        #expect(await reason(try pki.message(key: "other")) == .badSignature)
        #expect(await reason(try pki.message { $0["Signature"] = .string("%%%not base64") }) == .malformedSignature)
        #expect(await reason(try pki.message { $0["Signature"] = nil }) == .missingSignature)
        #expect(await reason(try pki.message { $0["SignatureVersion"] = .string("3") }) == .malformedSignature)
        #expect(await reason(Array(#"{"Type":"Notification"}"#.utf8)) != nil)
        #expect(await reason(Array("not json".utf8)) == .malformedSignature)
    }

    @Test func onlySNSHostsOverHTTPSServeCertificates() async throws {
        let log = FetchLog()
        for url in [
            "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-test0123.pem",
            "https://evil.example.com/SimpleNotificationService-test0123.pem",
            "https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-test0123.pem",
            "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-test0123.pem",
            "https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-test0123.pem",
            "https://sns.us-east-1.amazonaws.com/../../etc/passwd",
        ] {
            #expect(
                await reason(try pki.message(certURL: url), cache: cache(log, seeded: false)) == .badSignature, "\(url)"
            )
        }
        #expect(log.count == 0, "nothing may be fetched for a refused URL")
    }

    @Test func aTopicNotListedIsRefused() async throws {
        #expect(
            await reason(try pki.message(topic: "arn:aws:sns:us-east-1:999999999999:someone-else")) == .topicNotAllowed)
        #expect(await reason(try pki.message(), verifier: verifier([])) == .topicNotAllowed)
    }

    @Test func certificatesAreFetchedOncePerURLAndNotAgainAfterABadSignature() async throws {
        let log = FetchLog()
        let c = cache(log, seeded: false, serve: pki.certificate)
        let good = try pki.message()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { #expect(await self.reason(good, cache: c) == nil) } }
        }
        #expect(log.count == 1)
        #expect(await reason(try pki.message(key: "other"), cache: c) == .badSignature)
        #expect(log.count == 1)
    }

    @Test func anUnreachableCertificateIsRetryableNotAForgery() async throws {
        #expect(await reason(try pki.message(), cache: cache(seeded: false, serve: nil)) == .certificateUnavailable)
    }

    @Test(arguments: ["v1-no-subject", "v1-subject", "v2-no-subject", "v2-subject"])
    func realAWSNotificationsVerifyWithAWSsCertificate(name: String) throws {
        let dir = try #require(Bundle.module.url(forResource: "Fixtures/sns", withExtension: nil)).path
        let body = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/notification-\(name).json"))
        let pem = try Data(
            contentsOf: URL(fileURLWithPath: "\(dir)/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem"))
        let message = try SNSMessage.parse(Array(body))
        // Signed on 2022-07-28 with a certificate valid until 2022-08-17.
        let signedDay = Date(timeIntervalSince1970: 1_659_000_000)
        try SNSSignature.verify(message: message, certificatePEM: Array(pem), now: signedDay)
        #expect(throws: VerificationError.self) {
            try SNSSignature.verify(message: message, certificatePEM: Array(pem), now: Date())
        }
        var tampered = message
        tampered.message += " "
        #expect(throws: VerificationError.self) {
            try SNSSignature.verify(message: tampered, certificatePEM: Array(pem), now: signedDay)
        }
    }
}
