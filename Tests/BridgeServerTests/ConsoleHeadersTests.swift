import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import BridgeCore
@testable import BridgeServer

/// Issue 18, point 8: every `/ui` answer carries the console's security headers, errors and unknown paths included.
@Suite("Console headers on every answer", .serialized)
struct ConsoleHeadersTests {
    static let expected: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
        ("X-Frame-Options", "DENY"),
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
    ]

    @Test func everyConsoleAnswerCarriesTheHeaders() async throws {
        let h = try await ConsoleTests.harness()
        let b = ConsoleTests.Browser(port: h.port)
        var answers: [(String, ConsoleTests.Page)] = []
        // Signed out: the form, a redirect, a wrong token, a path and methods no route has.
        answers.append(("GET /ui/login", try await b.get("/ui/login")))
        answers.append(("GET /ui/", try await b.get("/ui/")))
        answers.append(("GET /ui", try await b.get("/ui")))
        answers.append(("POST /ui/login wrong", try await b.signIn("not-the-token")))
        answers.append(("POST /ui/no/such/path", try await b.request(.POST, "/ui/no/such/path", form: [("a", "b")])))
        answers.append(("PUT /ui/login", try await b.request(.PUT, "/ui/login")))
        answers.append(("DELETE /ui/rules", try await b.request(.DELETE, "/ui/rules")))
        answers.append(("GET /ui/static/console.css", try await b.get("/ui/static/console.css")))
        // Signed in: pages, not found, a refused form, an unknown POST.
        #expect(try await b.signIn().status == 303)
        answers.append(("GET /ui/ signed in", try await b.get("/ui/")))
        answers.append(("GET /ui/deliveries/999", try await b.get("/ui/deliveries/999")))
        answers.append(("GET /ui/try signed in", try await b.get("/ui/try")))
        answers.append(("GET /ui/timeline signed in", try await b.get("/ui/timeline?range=30d")))
        answers.append(("GET /ui/deliveries/abc", try await b.get("/ui/deliveries/abc")))
        answers.append(("POST retry without csrf", try await b.request(.POST, "/ui/dead-letters/1/retry", form: [])))
        answers.append(("POST /ui/nothing", try await b.request(.POST, "/ui/nothing", form: [("x", "y")])))
        #expect(answers.contains { $0.1.status == 404 })
        #expect(answers.contains { $0.1.status == 401 })
        #expect(answers.contains { $0.1.status == 403 })
        for (what, page) in answers {
            for (name, value) in Self.expected {
                #expect(page.headers[name].first == value, "\(what) (\(page.status)): \(name)")
            }
        }
        // Not the webhook or health answers: the headers belong to the console.
        let hook = try await b.request(.POST, "/hooks/deploys", form: [("a", "b")])
        #expect(hook.headers["X-Frame-Options"].isEmpty)
        await b.close()
        await h.finish()
    }
}
