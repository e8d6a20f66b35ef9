import AsyncHTTPClient
import BridgeCore
import Foundation
import NIOCore
import NIOHTTP1

/// A small read-only client for GitHub's and GitLab's REST APIs: authenticated GETs of JSON, pages followed through
/// the `Link` header (only to the API's own host: the token never goes anywhere else), the providers' rate limits
/// honoured (it says when it waits, and waits on the injected clock), and refusals of the token turned into a
/// `BackfillError` that names the scopes needed.
public struct ProviderAPI: Sendable {
    public enum Provider: String, Sendable {
        case github, gitlab

        var displayName: String { self == .github ? "GitHub" : "GitLab" }

        /// What a token needs to be allowed to read what `backfill` reads.
        var scopes: String {
            switch self {
            case .github:
                "GITHUB_TOKEN needs the repo_deployment scope for a public repository or repo for a private one "
                    + "(a fine-grained token: Deployments read, and Actions read for workflow runs; a classic token "
                    + "reads workflow runs with repo)"
            case .gitlab:
                "GITLAB_TOKEN needs the read_api scope and at least the Reporter role on the project"
            }
        }
    }

    public let provider: Provider
    /// The API's base URL without a trailing slash: `https://api.github.com`, `https://ghe.example.com/api/v3`,
    /// `https://gitlab.com/api/v4`.
    public let baseURL: String
    let token: Secret
    let client: HTTPClient
    let clock: any BridgeClock
    /// Where "waiting for the rate limit" and retry notices go (the CLI logs them).
    let say: @Sendable (String) -> Void
    /// The longest single wait for a rate limit; a reset further away is waited for in steps of this.
    public var maxWait: TimeInterval = 3600
    /// Attempts of one request that fails on the network or with a 5xx before giving up.
    public var attempts = 4

    public init(
        provider: Provider, baseURL: String, token: Secret, client: HTTPClient = .shared,
        clock: any BridgeClock = SystemClock(), say: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.provider = provider
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.token = token
        self.client = client
        self.clock = clock
        self.say = say
    }

    /// One page: its JSON, the next page's URL (from `Link: <…>; rel="next"`) and the number of pages when the
    /// provider says (`rel="last"`, `X-Total-Pages`).
    public struct Page: Sendable {
        public var json: JSONValue
        public var next: String?
        public var totalPages: Int?
    }

    /// GETs `pathAndQuery` (relative to the base URL) or an absolute URL on the API's host.
    public func get(_ pathAndQuery: String) async throws -> Page {
        let url = pathAndQuery.hasPrefix("http") ? pathAndQuery : baseURL + pathAndQuery
        guard sameOrigin(url) else {
            throw BackfillError(
                .unexpectedAnswer,
                "\(provider.displayName) pointed to \(url), which is not on \(baseURL); the token is not sent there")
        }
        var failures = 0
        var rateLimitWaits = 0
        while true {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "User-Agent", value: "cloudthread-bridge-backfill")
            switch provider {
            case .github:
                request.headers.add(name: "Accept", value: "application/vnd.github+json")
                request.headers.add(name: "X-GitHub-Api-Version", value: "2022-11-28")
                request.headers.add(name: "Authorization", value: "Bearer \(token.string)")
            case .gitlab:
                request.headers.add(name: "PRIVATE-TOKEN", value: token.string)
            }
            let status: Int
            let headers: HTTPHeaders
            let body: ByteBuffer
            do {
                let response = try await client.execute(request, timeout: .seconds(60))
                status = Int(response.status.code)
                headers = response.headers
                body = try await response.body.collect(upTo: 32 << 20)
            } catch {
                failures += 1
                if failures >= attempts {
                    throw BackfillError(
                        .unavailable, "\(provider.displayName) cannot be reached at \(Self.display(url)): \(error)")
                }
                let wait = Double(1 << (failures - 1))
                say("\(provider.displayName) could not be reached (\(error)); trying again in \(Int(wait)) s")
                await clock.sleep(for: .seconds(wait))
                continue
            }
            if let wait = rateLimitWait(status: status, headers: headers) {
                rateLimitWaits += 1
                if rateLimitWaits > 20 {
                    throw BackfillError(
                        .unavailable,
                        "\(provider.displayName) kept answering \(status) for its rate limit; run again later")
                }
                say(
                    "\(provider.displayName)'s rate limit is reached (HTTP \(status)); waiting \(Self.seconds(wait)) "
                        + "before GET \(Self.display(url))")
                await clock.sleep(for: .seconds(wait))
                continue
            }
            switch status {
            case 200..<300:
                let json: JSONValue
                do {
                    json = try JSONValue.parse(Array(body.readableBytesView))
                } catch {
                    throw BackfillError(
                        .unexpectedAnswer,
                        "\(provider.displayName) answered GET \(Self.display(url)) with no JSON: \(error)")
                }
                // The last request allowed before the reset: wait now, so the next one is not refused.
                if headers.first(name: remainingHeader) == "0", let reset = resetWait(headers) {
                    say(
                        "\(provider.displayName)'s rate limit is used up; waiting \(Self.seconds(reset)) for it to reset"
                    )
                    await clock.sleep(for: .seconds(reset))
                }
                let links = Self.links(headers.first(name: "Link"))
                var total = headers.first(name: "X-Total-Pages").flatMap(Int.init)
                if total == nil, let last = links["last"] { total = Self.pageNumber(last) }
                return Page(json: json, next: links["next"], totalPages: total)
            case 401:
                throw BackfillError(
                    .authentication,
                    "\(provider.displayName) refused the token (HTTP 401 on GET \(Self.display(url))): "
                        + "\(provider.scopes)")
            case 403:
                throw BackfillError(
                    .authentication,
                    "\(provider.displayName) refused access (HTTP 403 on GET \(Self.display(url)))"
                        + "\(Self.message(body)): \(provider.scopes)")
            case 404:
                throw BackfillError(
                    .authentication,
                    "\(provider.displayName) answered 404 on GET \(Self.display(url)): it does not exist or the token "
                        + "cannot see it; \(provider.scopes)")
            case 500..<600:
                failures += 1
                if failures >= attempts {
                    throw BackfillError(
                        .unavailable,
                        "\(provider.displayName) answered HTTP \(status) on GET \(Self.display(url)) \(failures) times")
                }
                let wait = Double(1 << (failures - 1))
                say("\(provider.displayName) answered HTTP \(status); trying again in \(Int(wait)) s")
                await clock.sleep(for: .seconds(wait))
            default:
                throw BackfillError(
                    .unexpectedAnswer,
                    "\(provider.displayName) answered HTTP \(status) on GET \(Self.display(url))\(Self.message(body))")
            }
        }
    }

    /// Every page from `pathAndQuery` on, each page's items picked by `items`; `page` is told of each page read.
    func getAll(
        _ pathAndQuery: String, items: (JSONValue) -> [JSONValue] = { $0.arrayValue ?? [] },
        page: (Page, Int) async throws -> Bool = { _, _ in true }
    ) async throws -> [JSONValue] {
        var all: [JSONValue] = []
        var next: String? = pathAndQuery
        var number = 0
        while let url = next {
            let p = try await get(url)
            number += 1
            all += items(p.json)
            guard try await page(p, number) else { break }
            next = p.next
        }
        return all
    }

    var remainingHeader: String { provider == .github ? "X-RateLimit-Remaining" : "RateLimit-Remaining" }
    var resetHeader: String { provider == .github ? "X-RateLimit-Reset" : "RateLimit-Reset" }

    /// How long to wait before asking again when an answer is a rate-limit refusal (429, or GitHub's 403 with no
    /// requests left or a `Retry-After`); nil when it is not one.
    func rateLimitWait(status: Int, headers: HTTPHeaders) -> TimeInterval? {
        let retryAfter = headers.first(name: "Retry-After").flatMap(TimeInterval.init)
        let exhausted = headers.first(name: remainingHeader) == "0"
        guard status == 429 || (status == 403 && (exhausted || retryAfter != nil)) else { return nil }
        if let retryAfter { return min(max(retryAfter, 1), maxWait) }
        if let reset = resetWait(headers) { return reset }
        return 60
    }

    /// Seconds until the reset the headers announce (an epoch time), at least 1, at most `maxWait`.
    func resetWait(_ headers: HTTPHeaders) -> TimeInterval? {
        guard let reset = headers.first(name: resetHeader).flatMap(TimeInterval.init) else { return nil }
        return min(max(reset - clock.now().timeIntervalSince1970 + 1, 1), maxWait)
    }

    func sameOrigin(_ url: String) -> Bool {
        guard let a = URLComponents(string: url), let b = URLComponents(string: baseURL) else { return false }
        return a.scheme == b.scheme && a.host == b.host && a.port == b.port
    }

    /// `<url>; rel="next", <url>; rel="last"` as a dictionary by relation.
    static func links(_ header: String?) -> [String: String] {
        guard let header else { return [:] }
        var out: [String: String] = [:]
        for part in header.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let first = pieces.first, first.hasPrefix("<"), first.hasSuffix(">") else { continue }
            let url = String(first.dropFirst().dropLast())
            for p in pieces.dropFirst() where p.hasPrefix("rel=") {
                let rel = p.dropFirst(4).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                for r in rel.split(separator: " ") { out[String(r)] = url }
            }
        }
        return out
    }

    static func pageNumber(_ url: String) -> Int? {
        URLComponents(string: url)?.queryItems?.first { $0.name == "page" }?.value.flatMap(Int.init)
    }

    /// A URL as logs show it: without its query string.
    static func display(_ url: String) -> String {
        url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
    }

    static func seconds(_ t: TimeInterval) -> String {
        t < 120 ? "\(Int(t.rounded(.up))) s" : "\(Int((t / 60).rounded(.up))) min"
    }

    /// The provider's `message` field, if its error body has one (never echoes more than 200 characters).
    static func message(_ body: ByteBuffer) -> String {
        guard case .object(let o)? = try? JSONValue.parse(Array(body.readableBytesView)),
            case .string(let m)? = o["message"]
        else { return "" }
        return " (\(m.prefix(200)))"
    }
}

extension JSONValue {
    var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}
