import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import BridgeCore
@testable import BridgeServer
@testable import BridgeVerification

/// Issue 18, point 2: only verification failures count toward the refusal limit, and a 429 costs no new
/// connection.
@Suite("The refusal limit protects senders", .serialized)
struct RefusalLimitTests {
    @Test func aVerifiedSendersMalformedBodiesNeverCount() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) { $0.refusalLimit = 3 }
        try await h.start()
        for body in ["not json", "[1,2", #"{"service":"api","state":"success","at":"not a time"}"#, "{}", "\u{0}"] {
            for _ in 0..<2 {
                let answer = try await h.postGitHub(body: Array(body.utf8))
                #expect([200, 202, 400, 413, 422].contains(answer.status), "\(body): \(answer.status) \(answer.text)")
            }
        }
        #expect(h.bridge.ingestor.refusals.total >= 4)
        #expect(try await h.postGitHub(body: deployBody()).status == 202)
        // A forgery still counts.
        for _ in 0..<3 { #expect(try await h.postGitHub(body: deployBody(), secret: "guess").status == 401) }
        #expect(try await h.postGitHub(body: deployBody(service: "later")).status == 429)
        await h.finish()
    }

    static func request(_ body: [UInt8], signature: String) -> [UInt8] {
        Array(
            ("POST /hooks/deploys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "X-GitHub-Event: deployment_status\r\nX-Hub-Signature-256: \(signature)\r\n"
                + "Content-Length: \(body.count)\r\n\r\n").utf8) + body
    }

    @Test func aLimitedAddressIsAnswered429OnTheSameConnection() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) { $0.refusalLimit = 2 }
        try await h.start()
        let port = h.port
        let statuses = try await offPool { () -> [Int?] in
            guard let socket = KeepAliveSocket(port: port) else { return [] }
            var statuses: [Int?] = []
            let body = deployBody()
            for _ in 0..<6 {
                guard socket.write(Self.request(body, signature: "sha256=" + String(repeating: "0", count: 64)))
                else {
                    statuses.append(nil)
                    break
                }
                statuses.append(socket.readAnswer()?.status)
            }
            return statuses
        }
        #expect(statuses == [401, 401, 429, 429, 429, 429], "\(statuses)")
        await h.finish()
    }
}
