import BridgeCloudthread
import BridgeCore
import BridgeDelivery
import BridgeMapping
import BridgeStore
import BridgeVerification
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The web console under `/ui/`, on only when `BRIDGE_ADMIN_TOKEN` is set (docs/console.md).
///
/// Sign-in with the admin token starts a session kept in memory (`ConsoleSessions`); every page needs one, every
/// action is a POST form carrying the session's CSRF token. Pages are rendered on the server from Mustache
/// templates that escape every value; no page needs JavaScript or loads anything from another origin.
struct ConsoleController {
    static let cookieName = "bridge_console"
    static let pageSize = 50

    let store: any AdminStore & ConsoleStore
    let rules: RuleSet
    let token: Secret
    let forwarder: Forwarder
    let refusals: RefusalLog
    let duplicates: DuplicateCounter
    let reloader: RuleReloader
    let dryRun: Bool
    let sessions: ConsoleSessions
    /// Failed sign-ins per client address, shared with the admin API's bearer tokens.
    let attempts: AdminAttempts
    let library: MustacheLibrary
    let startedAt: Date
    /// The `try` page's mapper (as `cloudthread-bridge try` makes it) and the webhook path's body limit.
    let mapper: Mapper
    let maxBodyBytes: Int
    /// Cloudthread, for the timeline's cost line (nil in dry run), the Cost View of `CLOUDTHREAD_COST_VIEW_ID` and
    /// the answers kept for 10 minutes.
    let client: (any CloudthreadClient)?
    let costViewID: String?
    let costCache = CostCache()

    init(
        store: any AdminStore & ConsoleStore, rules: RuleSet, token: Secret, forwarder: Forwarder, refusals: RefusalLog,
        duplicates: DuplicateCounter, reloader: RuleReloader, dryRun: Bool, sessions: ConsoleSessions = .init(),
        attempts: AdminAttempts = .init(), mapper: Mapper = Mapper(defaultStreamToken: nil, dryRun: true),
        maxBodyBytes: Int = 5 * 1024 * 1024, client: (any CloudthreadClient)? = nil, costViewID: String? = nil
    ) throws {
        self.mapper = mapper
        self.maxBodyBytes = maxBodyBytes
        self.client = client
        self.costViewID = costViewID
        self.attempts = attempts
        self.store = store
        self.rules = rules
        self.token = token
        self.forwarder = forwarder
        self.refusals = refusals
        self.duplicates = duplicates
        self.reloader = reloader
        self.dryRun = dryRun
        self.sessions = sessions
        self.library = try ConsoleTemplates.library()
        self.startedAt = Date()
    }

    /// A signed-in request: its session id and CSRF token.
    struct SignedIn {
        var id: String
        var csrf: String
    }

    func addRoutes(to router: Router<BridgeRequestContext>) {
        // On the router rather than the group: a router middleware also wraps the answer to a path or a method no
        // route matches, so every /ui answer carries the console's headers, unknown paths and errors included.
        router.add(middleware: ConsoleHeadersMiddleware())
        let group = router.group("/ui")
        group.get("/static/console.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: ConsoleTemplates.css)))
        }
        group.get("/login") { request, _ in
            if signedIn(request) != nil { return Self.redirect("/ui/") }
            return page("login", title: "Sign in", signedIn: nil, ["error": false])
        }
        group.post("/login") { request, context in try await login(request, clientAddress: context.clientAddress) }
        group.post("/logout") { request, _ in
            try await action(request) { session, _ in
                sessions.end(session.id)
                var response = Self.redirect("/ui/login")
                response.headers[.setCookie] = "\(Self.cookieName)=; Max-Age=0; Path=/ui; HttpOnly; SameSite=Strict"
                return response
            }
        }
        group.get("/") { request, _ in
            try await view(request) { session in try await overview(session) }
        }
        group.get("/deliveries") { request, _ in
            try await view(request) { session in try await deliveries(request, session) }
        }
        group.get("/deliveries/:id") { request, context in
            try await view(request) { session in
                try await delivery(context.parameters.get("id", as: Int64.self), session)
            }
        }
        group.get("/dead-letters") { request, _ in
            try await view(request) { session in try await deadLetters(request, session) }
        }
        group.post("/dead-letters/:id/retry") { request, context in
            try await action(request) { session, _ in
                guard let id = context.parameters.get("id", as: Int64.self) else { return notFound(session) }
                let n = try await store.replayDeadLetters([id], now: Date())
                if n > 0 { forwarder.notify() }
                return Self.redirect("/ui/dead-letters?done=\(n > 0 ? "retried" : "gone")")
            }
        }
        group.post("/dead-letters/:id/discard") { request, context in
            try await action(request) { session, _ in
                guard let id = context.parameters.get("id", as: Int64.self) else { return notFound(session) }
                let n = try await store.discardDeadLetters([id])
                return Self.redirect("/ui/dead-letters?done=\(n > 0 ? "discarded" : "gone")")
            }
        }
        group.get("/try") { request, _ in
            try await view(request) { session in try await tryForm(request, session) }
        }
        // The form carries a body up to the webhook limit, percent-encoded (up to 3 bytes a byte), and headers.
        group.post("/try") { request, _ in
            let limit = maxBodyBytes * 3 + 256 * 1024
            // A form too large to read: the webhook path's 413, not a refusal for a CSRF token it could not read.
            if let session = signedIn(request), let length = request.headers[.contentLength].flatMap(Int.init),
                length > limit
            {
                var response = tryPage(
                    session, form: TryForm(), notice: nil,
                    result: ["error": "body larger than \(maxBodyBytes) bytes", "status": 413])
                response.status = .contentTooLarge
                response.headers[.connection] = "close"
                return response
            }
            return try await action(request, formLimit: limit) { session, form in tryRun(session, form) }
        }
        group.get("/timeline") { request, _ in
            try await view(request) { session in try await timeline(request, session) }
        }
        group.get("/rules") { request, _ in
            try await view(request) { session in rulesPage(session) }
        }
        // Anything else under /ui: the sign-in form without a session, else "not found", with the console's headers.
        group.get("/**") { request, _ in
            try await view(request) { session in notFound(session) }
        }
    }

    // MARK: sign-in, sessions, CSRF

    /// The session of the request's cookie, if it is live.
    func signedIn(_ request: Request) -> SignedIn? {
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let pair = part.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces) == Self.cookieName else {
                    continue
                }
                let id = pair[1].trimmingCharacters(in: .whitespaces)
                if let csrf = sessions.csrf(for: id, now: Date()) { return SignedIn(id: id, csrf: csrf) }
            }
        }
        return nil
    }

    /// True when the request came over TLS (directly or, behind a proxy, as `X-Forwarded-Proto: https`).
    static func overTLS(_ request: Request) -> Bool {
        if request.uri.scheme == .https { return true }
        let forwarded = HTTPField.Name("X-Forwarded-Proto").flatMap { request.headers[$0] } ?? ""
        return forwarded.split(separator: ",").first?.trimmingCharacters(in: .whitespaces).lowercased() == "https"
    }

    static func form(_ request: Request, limit: Int = 64 * 1024) async throws -> [String: String]? {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: limit) else { return nil }
        var form: [String: String] = [:]
        for (name, value) in FormDecoding.pairs(String(buffer: buffer)) where form[name] == nil { form[name] = value }
        return form
    }

    func login(_ request: Request, clientAddress: String?) async throws -> Response {
        if let wait = attempts.retryAfter(clientAddress) {
            var response = page(
                "login", title: "Sign in", signedIn: nil,
                [
                    "error":
                        "Too many wrong tokens from this address: sign-in is refused for \(wait) more seconds."
                ])
            response.status = .tooManyRequests
            response.headers[.retryAfter] = String(wait)
            return response
        }
        let form = try await Self.form(request) ?? [:]
        let presented = form["token"] ?? ""
        guard !presented.isEmpty, Crypto.secretEquals(Array(presented.utf8), token.bytes) else {
            attempts.noteFailure(clientAddress)
            var response = page(
                "login", title: "Sign in", signedIn: nil, ["error": "That token is not the admin token."])
            response.status = .unauthorized
            return response
        }
        let session = sessions.create(now: Date())
        var response = Self.redirect("/ui/")
        var cookie =
            "\(Self.cookieName)=\(session.id); Max-Age=\(Int(ConsoleSessions.lifetime)); Path=/ui; HttpOnly; "
            + "SameSite=Strict"
        if Self.overTLS(request) { cookie += "; Secure" }
        response.headers[.setCookie] = cookie
        return response
    }

    /// A page that needs a session: without one, a redirect to the sign-in form.
    func view(_ request: Request, _ render: (SignedIn) async throws -> Response) async throws -> Response {
        guard let session = signedIn(request) else { return Self.redirect("/ui/login") }
        return try await render(session)
    }

    /// An action: a POST form from a signed-in session carrying its CSRF token (checked in constant time).
    func action(
        _ request: Request, formLimit: Int = 64 * 1024,
        _ perform: (SignedIn, [String: String]) async throws -> Response
    ) async throws -> Response {
        guard let session = signedIn(request) else { return Self.redirect("/ui/login") }
        guard let form = try await Self.form(request, limit: formLimit),
            sessions.checkCSRF(id: session.id, presented: form["csrf"] ?? "", now: Date())
        else {
            var response = page(
                "message", title: "Refused", signedIn: session,
                [
                    "error":
                        "This form was refused: its CSRF token is missing or wrong. Reload the page and try again.",
                    "back": "/ui/", "backText": "Overview",
                ])
            response.status = .forbidden
            return response
        }
        return try await perform(session, form)
    }

    // MARK: responses

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    func notFound(_ session: SignedIn? = nil) -> Response {
        var response = page(
            "message", title: "Not found", signedIn: session,
            ["error": "There is nothing here.", "back": "/ui/", "backText": "Overview"])
        response.status = .notFound
        return response
    }

    /// Renders a template with the header's values (title, session, dry run, notice) added to `values`.
    func page(
        _ template: String, title: String, signedIn: SignedIn?, notice: String? = nil, _ values: [String: Any]
    ) -> Response {
        var context = values
        context["title"] = title
        context["signedIn"] = signedIn != nil
        context["csrf"] = signedIn?.csrf ?? ""
        context["dryRun"] = dryRun
        context["notice"] = notice ?? false
        let html = library.render(context, withTemplate: template) ?? "template \(template) is missing"
        return Response(
            status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// The headers of every console response (`/ui` and below, whatever the answer): no framing, no referrer, no
/// caching, no content sniffing, nothing from another origin, forms only to the bridge. An error thrown by a page
/// (a store error, a path or method no route matches) is turned into its answer here, so it carries them too.
struct ConsoleHeadersMiddleware: RouterMiddleware {
    typealias Context = BridgeRequestContext

    static let headers: [(HTTPField.Name, String)] = [
        (.contentSecurityPolicy, "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
        (HTTPField.Name("X-Frame-Options")!, "DENY"),
        (.cacheControl, "no-store"),
        (HTTPField.Name("Referrer-Policy")!, "no-referrer"),
        (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
    ]

    static func isConsole(_ path: String) -> Bool { path == "/ui" || path.hasPrefix("/ui/") }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard Self.isConsole(request.uri.path) else { return try await next(request, context) }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch {
            context.logger.error("console page failed", metadata: ["error": "\(error)"])
            response = Response(
                status: .internalServerError, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(
                    byteBuffer: ByteBuffer(
                        string: "The console cannot answer right now; the bridge's log says why.\n")))
        }
        for (name, value) in Self.headers { response.headers[name] = value }
        return response
    }
}
