import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

@testable import BridgeCore

/// A fake GitHub (under `/api/v3`, as GitHub Enterprise serves it) and a fake GitLab (under `/gitlab/api/v4`),
/// served in-process on a loopback port: the endpoints `backfill` reads, with pages (`Link`, `X-Total-Pages`),
/// token checks (401), and forced answers (rate limits).
final class FakeProviderAPI: Sendable {
    struct Forced {
        var match: String
        var status: Int
        var headers: [(String, String)]
    }

    struct State {
        var githubToken = "gh-token"
        var gitlabToken = "gl-token"
        var pageSize = 2
        /// Newest first, as GitHub lists them.
        var deployments: [JSONValue] = []
        var statuses: [Int: [JSONValue]] = [:]
        var runs: [JSONValue] = []
        /// Oldest first (the backfill asks for `order_by=updated_at&sort=asc`).
        var gitlabDeployments: [JSONValue] = []
        var forced: [Forced] = []
        /// Each request's path and query, as received.
        var requests: [String] = []
    }

    let state = Mutex(State())
    private let port = Mutex(0)
    private let task = Mutex<Task<Void, any Error>?>(nil)

    var baseURL: String { "http://127.0.0.1:\(port.withLock { $0 })" }
    var githubURL: String { baseURL + "/api/v3" }
    var gitlabURL: String { baseURL + "/gitlab" }
    var requests: [String] { state.withLock { $0.requests } }

    func force(_ match: String, _ status: Int, _ headers: [(String, String)]) {
        state.withLock { $0.forced.append(Forced(match: match, status: status, headers: headers)) }
    }

    static func json(_ value: JSONValue, headers: [(String, String)] = []) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (n, v) in headers { fields[HTTPField.Name(n)!] = v }
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(string: value.json)))
    }

    static func answer(_ status: Int, _ message: String, headers: [(String, String)] = []) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (n, v) in headers { fields[HTTPField.Name(n)!] = v }
        return Response(
            status: .init(code: status), headers: fields,
            body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(["message": .string(message)]).json)))
    }

    /// Logs the request, checks the token and consumes a forced answer; nil when the route should answer.
    func gate(_ request: Request, github: Bool) -> Response? {
        let uri = request.uri.description
        return state.withLock { s -> Response? in
            s.requests.append(uri)
            if let i = s.forced.firstIndex(where: { uri.contains($0.match) }) {
                let f = s.forced.remove(at: i)
                return FakeProviderAPI.answer(f.status, "forced \(f.status)", headers: f.headers)
            }
            if github {
                guard request.headers[.authorization] == "Bearer \(s.githubToken)" else {
                    return FakeProviderAPI.answer(401, "Bad credentials")
                }
            } else {
                guard request.headers[HTTPField.Name("PRIVATE-TOKEN")!] == s.gitlabToken else {
                    return FakeProviderAPI.answer(401, "401 Unauthorized")
                }
            }
            return nil
        }
    }

    /// One page of `items` (`page` from the query, 1-based) with GitHub's and GitLab's paging headers.
    func page(_ request: Request, _ items: [JSONValue], wrap: ((JSONValue) -> JSONValue)? = nil) -> Response {
        let size = state.withLock { $0.pageSize }
        let number = Int(request.uri.queryParameters.get("page") ?? "1") ?? 1
        let pages = max(1, (items.count + size - 1) / size)
        let slice = Array(items.dropFirst((number - 1) * size).prefix(size))
        var headers: [(String, String)] = [("X-Total-Pages", "\(pages)")]
        func url(_ p: Int) -> String {
            var query = request.uri.query.map { String($0) } ?? ""
            query = query.split(separator: "&").filter { !$0.hasPrefix("page=") }.joined(separator: "&")
            return "\(baseURL)\(request.uri.path)?\(query)&page=\(p)"
        }
        var links: [String] = []
        if number < pages { links.append("<\(url(number + 1))>; rel=\"next\"") }
        links.append("<\(url(pages))>; rel=\"last\"")
        headers.append(("Link", links.joined(separator: ", ")))
        let body = wrap?(.array(slice)) ?? .array(slice)
        return FakeProviderAPI.json(body, headers: headers)
    }

    func start() async throws {
        let router = Router()
        router.get("/api/v3/repos/:owner/:repo") { request, context -> Response in
            if let r = self.gate(request, github: true) { return r }
            let owner = context.parameters.get("owner") ?? ""
            let repo = context.parameters.get("repo") ?? ""
            return FakeProviderAPI.json(
                .object([
                    "id": .number(1_296_269), "name": .string(repo), "full_name": .string("\(owner)/\(repo)"),
                    "html_url": .string("https://github.example.com/\(owner)/\(repo)"),
                    "owner": .object(["login": .string(owner)]),
                ]))
        }
        router.get("/api/v3/repos/:owner/:repo/deployments") { request, _ -> Response in
            if let r = self.gate(request, github: true) { return r }
            var list = self.state.withLock { $0.deployments }
            if let env = request.uri.queryParameters.get("environment") {
                list = list.filter { $0["environment"] == .string(env) }
            }
            return self.page(request, list)
        }
        router.get("/api/v3/repos/:owner/:repo/deployments/:id/statuses") { request, context -> Response in
            if let r = self.gate(request, github: true) { return r }
            let id = Int(context.parameters.get("id") ?? "") ?? 0
            return FakeProviderAPI.json(.array(self.state.withLock { $0.statuses[id] ?? [] }))
        }
        router.get("/api/v3/repos/:owner/:repo/actions/runs") { request, _ -> Response in
            if let r = self.gate(request, github: true) { return r }
            let runs = self.state.withLock { $0.runs }
            return self.page(request, runs) {
                .object(["total_count": .number(Double(runs.count)), "workflow_runs": $0])
            }
        }
        router.get("/gitlab/api/v4/projects/:id") { request, context -> Response in
            if let r = self.gate(request, github: false) { return r }
            let id = context.parameters.get("id") ?? ""
            return FakeProviderAPI.json(
                .object([
                    "id": .number(30), "name": .string("app"), "path_with_namespace": .string("group/app"),
                    "web_url": .string("https://gitlab.example.com/group/app"), "description": .string(""),
                    "namespace": .object(["name": .string("group")]), "default_branch": .string("main"),
                    "raw_id": .string(id),
                ]))
        }
        router.get("/gitlab/api/v4/projects/:id/deployments") { request, _ -> Response in
            if let r = self.gate(request, github: false) { return r }
            var list = self.state.withLock { $0.gitlabDeployments }
            if let env = request.uri.queryParameters.get("environment") {
                list = list.filter { $0["environment"]?["name"] == .string(env) }
            }
            return self.page(request, list)
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in self.port.withLock { $0 = channel.localAddress?.port ?? 0 } })
        let started = Task { try await app.runService() }
        task.withLock { $0 = started }
        for _ in 0..<200 where port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(10)) }
    }

    func stop() async {
        let t = task.withLock { $0 }
        t?.cancel()
        _ = try? await t?.value
    }
}
