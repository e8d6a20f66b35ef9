import AsyncHTTPClient
import BridgeStore
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import BridgeCore
@testable import BridgeDelivery
@testable import BridgeServer
@testable import BridgeVerification

/// The web console at `/ui/`: sign-in, sessions, CSRF, pages and escaping, over loopback HTTP.
@Suite("Console", .serialized)
struct ConsoleTests {
    static let adminToken = "console-admin-token-1234-0123456789abcdef"

    struct Page {
        var status: Int
        var headers: HTTPHeaders
        var text: String
    }

    /// A browser-like client for one test: keeps the session cookie, never follows redirects.
    final class Browser: @unchecked Sendable {
        let port: Int
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        var cookie: String?

        init(port: Int) { self.port = port }

        func request(
            _ method: HTTPMethod, _ path: String, form: [(String, String)]? = nil, headers: [(String, String)] = []
        ) async throws -> Page {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = method
            for (n, v) in headers { request.headers.add(name: n, value: v) }
            if let cookie { request.headers.add(name: "Cookie", value: cookie) }
            if let form {
                let allowed = CharacterSet.alphanumerics
                let text = form.map {
                    "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
                }.joined(separator: "&")
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                request.body = .bytes(ByteBuffer(string: text))
            }
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 8 << 20)
            if let set = response.headers["Set-Cookie"].first, let pair = set.split(separator: ";").first {
                cookie = pair.hasSuffix("=") ? nil : String(pair)
            }
            return Page(status: Int(response.status.code), headers: response.headers, text: String(buffer: body))
        }

        func get(_ path: String) async throws -> Page { try await request(.GET, path) }

        func signIn(_ token: String = ConsoleTests.adminToken) async throws -> Page {
            try await request(.POST, "/ui/login", form: [("token", token)])
        }

        /// The CSRF token the page's forms carry.
        func csrf(on path: String = "/ui/") async throws -> String {
            let text = try await get(path).text
            guard let range = text.range(of: "name=\"csrf\" value=\"") else { return "" }
            return String(text[range.upperBound...].prefix { $0 != "\"" })
        }

        func close() async { try? await client.shutdown() }
    }

    static func harness(adminToken: String? = ConsoleTests.adminToken) async throws -> BridgeHarness {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) { c in
            c.adminToken = adminToken.map(Secret.init)
        }
        try await h.start()
        return h
    }

    @Test func theConsoleIsOffWithoutAnAdminToken() async throws {
        let h = try await Self.harness(adminToken: nil)
        let b = Browser(port: h.port)
        #expect(try await b.get("/ui/").status == 404)
        #expect(try await b.get("/ui/login").status == 404)
        #expect(try await b.signIn().status == 404)
        await b.close()
        await h.finish()
    }

    @Test func pagesRedirectToTheSignInFormWithoutASession() async throws {
        let h = try await Self.harness()
        let b = Browser(port: h.port)
        for path in [
            "/ui", "/ui/", "/ui/deliveries", "/ui/deliveries/1", "/ui/dead-letters", "/ui/rules", "/ui/nothing/here",
        ] {
            let page = try await b.get(path)
            #expect(page.status == 303, "\(path)")
            #expect(page.headers["Location"].first == "/ui/login", "\(path)")
        }
        let retry = try await b.request(.POST, "/ui/dead-letters/1/retry", form: [("csrf", "x")])
        #expect(retry.status == 303)
        // A made-up session id is no session.
        b.cookie = "\(ConsoleController.cookieName)=\(String(repeating: "ab", count: 32))"
        #expect(try await b.get("/ui/").status == 303)
        let login = try await b.get("/ui/login")
        #expect(login.status == 200)
        #expect(login.text.contains("name=\"token\""))
        for header in ["Content-Security-Policy", "X-Frame-Options", "Referrer-Policy", "Cache-Control"] {
            #expect(!login.headers[header].isEmpty, "\(header)")
        }
        #expect(
            login.headers["Content-Security-Policy"].first
                == "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
        #expect(login.headers["X-Frame-Options"].first == "DENY")
        #expect(login.headers["Referrer-Policy"].first == "no-referrer")
        #expect(login.headers["Cache-Control"].first == "no-store")
        await b.close()
        await h.finish()
    }

    @Test func aWrongTokenIsRefusedWithoutSayingWhy() async throws {
        let h = try await Self.harness()
        let b = Browser(port: h.port)
        for wrong in ["nope", "", ConsoleTests.adminToken + "x", String(ConsoleTests.adminToken.dropLast())] {
            let page = try await b.signIn(wrong)
            #expect(page.status == 401)
            #expect(page.headers["Set-Cookie"].isEmpty)
            #expect(page.text.contains("name=\"token\""))
            #expect(page.text.contains("not the admin token"))
            #expect(!page.text.contains(ConsoleTests.adminToken))
        }
        #expect(try await b.get("/ui/").status == 303)
        await b.close()
        await h.finish()
    }

    @Test func signingInSetsAStrictHttpOnlyCookie() async throws {
        let h = try await Self.harness()
        let b = Browser(port: h.port)
        let page = try await b.signIn()
        #expect(page.status == 303)
        #expect(page.headers["Location"].first == "/ui/")
        let cookie = try #require(page.headers["Set-Cookie"].first)
        let attributes = cookie.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(attributes[0].hasPrefix("\(ConsoleController.cookieName)="))
        #expect(attributes[0].count == ConsoleController.cookieName.count + 1 + 64)
        #expect(attributes.contains("HttpOnly"))
        #expect(attributes.contains("SameSite=Strict"))
        #expect(attributes.contains("Max-Age=43200"))
        #expect(attributes.contains("Path=/ui"))
        #expect(!attributes.contains("Secure"))
        let overview = try await b.get("/ui/")
        #expect(overview.status == 200)
        #expect(overview.text.contains("deploys"))
        #expect(overview.text.contains("<svg"))

        // Behind a TLS-terminating proxy the cookie is Secure.
        let proxied = Browser(port: h.port)
        let secure = try await proxied.request(
            .POST, "/ui/login", form: [("token", ConsoleTests.adminToken)], headers: [("X-Forwarded-Proto", "https")])
        #expect(secure.headers["Set-Cookie"].first?.contains("; Secure") == true)

        // Signing out ends the session.
        let csrf = try await b.csrf()
        let saved = b.cookie
        let out = try await b.request(.POST, "/ui/logout", form: [("csrf", csrf)])
        #expect(out.status == 303)
        b.cookie = saved
        #expect(try await b.get("/ui/").status == 303)
        await proxied.close()
        await b.close()
        await h.finish()
    }

    @Test func actionsWithoutTheSessionsCSRFTokenAreRefused() async throws {
        let h = try await Self.harness()
        let b = Browser(port: h.port)
        _ = try await h.postGitHub(body: deployBody(team: "nobody"))
        await h.eventually("one dead letter") { (try? await h.bridge.store.deadLetters(limit: 5))?.count == 1 }
        let id = try #require(try await h.bridge.store.deadLetters(limit: 5).first?.id)
        _ = try await b.signIn()
        // Another session's token is not this session's.
        let other = Browser(port: h.port)
        _ = try await other.signIn()
        let otherCSRF = try await other.csrf()
        for form in [[], [("csrf", "")], [("csrf", "0123")], [("csrf", otherCSRF)]] {
            let page = try await b.request(.POST, "/ui/dead-letters/\(id)/discard", form: form)
            #expect(page.status == 403)
            #expect(page.text.contains("CSRF"))
        }
        #expect(try await h.bridge.store.deadLetters(limit: 5).count == 1)
        await other.close()
        await b.close()
        await h.finish()
    }

    @Test func aDeadLetterIsRetriedAndAnotherDiscarded() async throws {
        let h = try await Self.harness()
        let b = Browser(port: h.port)
        h.fake.state.withLock { $0.rejectDescriptionsContaining = "BAD" }
        _ = try await h.postGitHub(body: deployBody(service: "BAD-one"))
        _ = try await h.postGitHub(body: deployBody(service: "BAD-two"))
        await h.eventually("two dead letters") { (try? await h.bridge.store.deadLetters(limit: 5))?.count == 2 }
        let letters = try await h.bridge.store.deadLetters(limit: 5)
        _ = try await b.signIn()
        let page = try await b.get("/ui/dead-letters")
        #expect(page.text.contains("rejected by Cloudthread (400)"))
        let csrf = try await b.csrf(on: "/ui/dead-letters")
        #expect(csrf.count == 64)

        // Retry: Cloudthread now takes it, so the record is sent.
        h.fake.state.withLock { $0.rejectDescriptionsContaining = nil }
        let retried = try await b.request(.POST, "/ui/dead-letters/\(letters[0].id)/retry", form: [("csrf", csrf)])
        #expect(retried.status == 303)
        #expect(retried.headers["Location"].first == "/ui/dead-letters?done=retried")
        #expect(try await b.get("/ui/dead-letters?done=retried").text.contains("back in the outbox"))
        await h.eventually("the retried record is sent") { h.fake.events.count == 1 }

        let discarded = try await b.request(
            .POST, "/ui/dead-letters/\(letters[1].id)/discard", form: [("csrf", csrf)])
        #expect(discarded.headers["Location"].first == "/ui/dead-letters?done=discarded")
        #expect(try await h.bridge.store.deadLetters(limit: 5).isEmpty)
        #expect(try await h.bridge.store.stats(now: Date()).dead == 0)
        await b.close()
        await h.finish()
    }

    @Test func aHostilePayloadIsShownAsTextAndSecretsAreMasked() async throws {
        let h = try await Self.harness()
        let b = Browser(port: h.port)
        let hostile = "<script>alert(1)</script>\\\"><img src=x onerror=alert(1)>"
        let answer = try await h.post(
            "/hooks/deploys",
            headers: [
                ("Content-Type", "application/json"), ("X-GitHub-Event", "deployment_status"),
                ("X-Hub-Signature-256", signature(deployBody(service: hostile))),
                ("X-GitHub-Delivery", "\"><img src=x onerror=alert(2)>"),
                ("X-Api-Key", "very-secret-api-key"), ("Authorization", "Bearer very-secret-bearer"),
                ("X-Evil", "<script>alert(3)</script>"),
            ], body: deployBody(service: hostile))
        #expect(answer.status == 202)
        _ = try await b.signIn()
        #expect(try await b.get("/ui/nothing/here").status == 404)
        let missing = try await b.get("/ui/deliveries/999")
        #expect(missing.status == 404)
        #expect(missing.text.contains("Sign out"))
        #expect(!missing.headers["Content-Security-Policy"].isEmpty)
        let list = try await b.get("/ui/deliveries")
        #expect(list.text.contains("href=\"/ui/deliveries/1\""))
        let page = try await b.get("/ui/deliveries/1")
        #expect(page.status == 200)
        #expect(!page.text.contains("<script>"))
        #expect(!page.text.contains("<img"))
        #expect(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(page.text.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"))
        #expect(page.text.contains("&lt;script&gt;alert(3)&lt;/script&gt;"))
        // Sensitive header values are neither stored nor shown.
        #expect(!page.text.contains("very-secret-api-key"))
        #expect(!page.text.contains("very-secret-bearer"))
        #expect(!page.text.contains(signature(deployBody(service: hostile))))
        #expect(page.text.contains(StoredRequest.mask))
        let detail = try #require(try await h.bridge.store.deliveryDetail(id: 1))
        let stored = Dictionary(
            detail.request?.headers.map { ($0[0].lowercased(), $0[1]) } ?? [], uniquingKeysWith: { a, _ in a })
        #expect(stored["x-api-key"] == StoredRequest.mask)
        #expect(stored["authorization"] == StoredRequest.mask)
        #expect(stored["x-hub-signature-256"] == StoredRequest.mask)
        #expect(stored["x-github-event"] == "deployment_status")
        // The explanation shows each condition with the value it saw.
        #expect(page.text.contains("payload.state"))
        #expect(page.text.contains("deployment_status"))
        await b.close()
        await h.finish()
    }

    @Test func aBodyOver64KiBIsCutWithANote() async throws {
        let h = try await Self.harness()
        let b = Browser(port: h.port)
        let padding = String(repeating: "x", count: 100_000)
        let body = deployBody(extra: ",\"padding\":\"\(padding)\"")
        #expect(try await h.postGitHub(body: body).status == 202)
        let detail = try #require(try await h.bridge.store.deliveryDetail(id: 1))
        #expect(detail.request?.body.count == 64 * 1024)
        #expect(detail.request?.bodySize == body.count)
        _ = try await b.signIn()
        let page = try await b.get("/ui/deliveries/1")
        #expect(page.text.contains("Only the first 65536 bytes of \(body.count) are kept"))
        #expect(page.text.count < 90_000)
        await b.close()
        await h.finish()
    }

    /// The embedded store keeps bodies in files beside the database (not synced): the page shows the body from there,
    /// and says so plainly when its bytes are gone, instead of showing nothing or failing.
    @Test func aBodyNoLongerOnDiskIsSaidToBeGone() async throws {
        let h = try await Self.harness()
        let b = Browser(port: h.port)
        let body = deployBody()
        #expect(try await h.postGitHub(body: body).status == 202)
        _ = try await b.signIn()
        let shown = try await b.get("/ui/deliveries/1")
        #expect(shown.text.contains("ci.example.com/run/1"))
        #expect(!shown.text.contains("no longer on disk"))
        try FileManager.default.removeItem(atPath: h.directory + "/data/bridge.sqlite-bodies")
        let page = try await b.get("/ui/deliveries/1")
        #expect(page.status == 200)
        #expect(page.text.contains("The body (\(body.count) bytes) is no longer on disk"))
        #expect(!page.text.contains("Only the first"))
        // The delivery itself is whole: its outcome and explanation.
        #expect(page.text.contains("payload.state"))
        // The next webhook's body is kept again.
        #expect(try await h.postGitHub(body: deployBody(service: "api-2")).status == 202)
        #expect(try await b.get("/ui/deliveries/2").text.contains("api-2"))
        await b.close()
        await h.finish()
    }

    @Test func theOverviewCountsRefusalsAndDuplicatesAndSaysWhyASourceIsDisabled() async throws {
        let disabled = deployRules.replacingOccurrences(of: "source: deploys", with: "source: other")
            .replacingOccurrences(of: "TEST_WEBHOOK_SECRET", with: "NOT_SET_SECRET")
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules, "other.yaml": disabled]) { c in
            c.adminToken = Secret(ConsoleTests.adminToken)
        }
        try await h.start()
        let b = Browser(port: h.port)
        #expect(try await h.postGitHub(body: deployBody(), delivery: "same").status == 202)
        #expect(try await h.postGitHub(body: deployBody(), delivery: "same").status == 200)
        #expect(try await h.postGitHub(body: deployBody(), secret: "wrong").status == 401)
        _ = try await b.signIn()
        let page = try await b.get("/ui/")
        #expect(page.text.contains("<b>1</b> accepted"))
        #expect(page.text.contains("<b>1</b> refused"))
        #expect(page.text.contains("<b>1</b> duplicate"))
        #expect(page.text.contains("disabled"))
        #expect(page.text.contains("NOT_SET_SECRET"))
        #expect(page.text.contains("since start-up"))
        await b.close()
        await h.finish()
    }

    @Test func theRulesPageShowsARefusedReloadWithItsPosition() async throws {
        let h = try await Self.harness()
        let b = Browser(port: h.port)
        try "source: broken\nverify: {preset: github}\nrules:\n  - name: x\n    whn: {}\n".write(
            toFile: h.mappingsPath + "/broken.yaml", atomically: true, encoding: .utf8)
        h.bridge.reloader.reload(reason: "test")
        _ = try await b.signIn()
        let page = try await b.get("/ui/rules")
        #expect(page.status == 200)
        #expect(page.text.contains("refused"))
        #expect(page.text.contains("broken.yaml:"))
        #expect(page.text.contains("deploys.yaml"))
        await b.close()
        await h.finish()
    }

    func signature(_ body: [UInt8]) -> String {
        "sha256=" + ByteEncoding.hex(Crypto.hmac(.sha256, key: Array(BridgeHarness.secret.utf8), data: body))
    }
}
