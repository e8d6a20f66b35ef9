import Foundation
import HTTPTypes
import Testing

@testable import BridgeCore
@testable import BridgeServer
@testable import BridgeVerification

/// Issue 19, point 2: webhooks are served by `WebhookChannelHandler` on the connection's event loop, every other
/// route by the router, on the same port and connection, and the answers leave in the order the requests came.
@Suite("The webhook channel handler", .serialized)
struct WebhookChannelHandlerTests {
    static func webhook(
        _ body: [UInt8], path: String = "/hooks/deploys", method: String = "POST", extra: String = "",
        secret: String = BridgeHarness.secret
    ) -> [UInt8] {
        let signature = "sha256=" + ByteEncoding.hex(Crypto.hmac(.sha256, key: Array(secret.utf8), data: body))
        return Array(
            ("\(method) \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "X-GitHub-Event: deployment_status\r\nX-Hub-Signature-256: \(signature)\r\n"
                + "X-GitHub-Delivery: \(UUID().uuidString)\r\n\(extra)Content-Length: \(body.count)\r\n\r\n").utf8)
            + body
    }

    static let health = Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)

    @Test func pipelinedRequestsAreAnsweredInOrderWhoeverServesThem() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        try await h.start()
        let port = h.port
        // One write: a router request, a webhook, a router request, a webhook to an unknown source, a forged
        // webhook, a router request, two webhooks back to back.
        let burst =
            Self.health + Self.webhook(deployBody(service: "a")) + Self.health
            + Self.webhook(deployBody(service: "b"), path: "/hooks/nope")
            + Self.webhook(deployBody(service: "c"), secret: "guess") + Self.health
            + Self.webhook(deployBody(service: "d")) + Self.webhook(deployBody(service: "e"))
        let answers = try await offPool { () -> [KeepAliveSocket.Answer?] in
            guard let socket = KeepAliveSocket(port: port) else { return [] }
            guard socket.write(burst) else { return [] }
            return (0..<8).map { _ in socket.readAnswer() }
        }
        #expect(answers.map { $0?.status } == [200, 202, 200, 404, 401, 200, 202, 202])
        #expect(answers[0]?.body.contains("alive") == true, "\(answers[0]?.body ?? "-")")
        #expect(answers[1]?.body.contains("\"events\":1") == true, "\(answers[1]?.body ?? "-")")
        #expect(answers[1]?.head.lowercased().contains("server: cloudthread-bridge") == true)
        #expect(answers[1]?.head.lowercased().contains("content-type: application/json") == true)
        #expect(answers[3]?.body.contains("unknown source") == true)
        #expect(answers[4]?.body.contains("signature verification failed") == true)
        await h.finish()
    }

    @Test func aClientThatClosesItsSideAfterTheBodyStillGetsTheAnswer() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        try await h.start()
        let port = h.port
        let answer = try await offPool { () -> KeepAliveSocket.Answer? in
            guard let socket = KeepAliveSocket(port: port) else { return nil }
            guard socket.write(Self.webhook(deployBody(service: "half"))) else { return nil }
            shutdown(socket.fd, Int32(SHUT_WR))
            return socket.readAnswer()
        }
        #expect(answer?.status == 202, "\(answer?.head ?? "no answer")")
        await h.finish()
    }

    @Test func connectionCloseIsHonouredAndOtherMethodsGoToTheRouter() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        try await h.start()
        let port = h.port
        let (closing, ended) = try await offPool { () -> (KeepAliveSocket.Answer?, Bool) in
            guard let socket = KeepAliveSocket(port: port, readTimeout: 5) else { return (nil, false) }
            guard socket.write(Self.webhook(deployBody(service: "bye"), extra: "Connection: close\r\n")) else {
                return (nil, false)
            }
            let answer = socket.readAnswer()
            var byte: UInt8 = 0
            return (answer, recv(socket.fd, &byte, 1, 0) == 0)
        }
        #expect(closing?.status == 202)
        #expect(closing?.head.lowercased().contains("connection: close") == true)
        #expect(ended, "the connection stays open after an answer with Connection: close")

        let others = try await offPool { () -> [Int?] in
            guard let socket = KeepAliveSocket(port: port) else { return [] }
            var statuses: [Int?] = []
            // PUT to the source itself is a webhook; PUT with a path and GET are not (the router answers them).
            for request in [
                Self.webhook(deployBody(service: "put"), method: "PUT"),
                Self.webhook(deployBody(service: "put2"), path: "/hooks/deploys/x", method: "PUT"),
                Array("GET /hooks/deploys HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
                Self.webhook(deployBody(service: "query"), path: "/hooks/deploys?from=ci"),
                Self.webhook(deployBody(service: "sub"), path: "/hooks/deploys/some/path"),
            ] {
                guard socket.write(request) else { break }
                statuses.append(socket.readAnswer()?.status)
            }
            return statuses
        }
        #expect(others.count == 5)
        #expect(others[0] == 202 && others[3] == 202 && others[4] == 202, "\(others)")
        #expect(others[1] != 202 && others[2] != 202 && others[1] != nil && others[2] != nil, "\(others)")
        await h.finish()
    }

    @Test func theTargetIsReadFromThePathAlone() {
        func target(_ method: HTTPRequest.Method, _ path: String) -> WebhookEdge.Target? {
            WebhookEdge.target(HTTPRequest(method: method, scheme: nil, authority: nil, path: path))
        }
        #expect(target(.post, "/hooks/github")?.source == "github")
        #expect(target(.post, "/hooks/github")?.subpath == "")
        #expect(target(.post, "/hooks/github/")?.source == "github")
        #expect(target(.post, "/hooks/jenkins/job/a%2Fb?x=1")?.subpath == "job/a/b")
        #expect(target(.post, "/hooks/jenkins/job/a?x=1")?.query == "x=1")
        #expect(target(.post, "/hooks/jenkins/job/a?x=1")?.path == "/hooks/jenkins/job/a")
        #expect(target(.put, "/hooks/github")?.source == "github")
        #expect(target(.put, "/hooks/github/x") == nil)
        #expect(target(.get, "/hooks/github") == nil)
        #expect(target(.options, "/hooks/github") == nil)
        #expect(target(.post, "/hooks") == nil)
        #expect(target(.post, "/hook/github") == nil)
        #expect(target(.post, "/ui/hooks/github") == nil)
        #expect(target(.post, "/hooks//github//a//b/")?.source == "github")
        #expect(target(.post, "/hooks//github//a//b/")?.subpath == "a/b")
        #expect(target(.post, "/hooks/github/a//b")?.subpath == "a/b")
        #expect(target(.post, "/hooks/github///")?.subpath == "")
        #expect(target(.post, "/hooks/")?.source == nil)
        #expect(target(.post, "/hooks/git%68ub")?.source == "github")
        #expect(target(.put, "/hooks/github/")?.source == "github")
        #expect(target(.post, "/hooks/github?")?.query == "")
        #expect(target(.post, "/hooks/github/a?b=/c")?.subpath == "a")
    }
}
