import BridgeCore
import Foundation

/// Past deploys of one GitHub repository, as the webhooks GitHub sends:
/// - `deployments`: each status of each deployment (`GET /repos/{owner}/{repo}/deployments`, then
///   `GET .../deployments/{id}/statuses`) becomes the `deployment_status` webhook, action `created`.
/// - `workflowRuns`: each completed Actions run (`GET /repos/{owner}/{repo}/actions/runs?status=completed&created=…`)
///   becomes the `workflow_run` webhook, action `completed`.
///
/// The payloads follow GitHub's documented webhook bodies
/// (https://docs.github.com/en/webhooks/webhook-events-and-payloads#deployment_status and #workflow_run): the
/// webhook's `deployment_status`, `deployment` and `workflow_run` objects are the REST API's objects
/// (https://docs.github.com/en/rest/deployments, https://docs.github.com/en/rest/actions/workflow-runs), and
/// `repository` is `GET /repos/{owner}/{repo}`.
public struct GitHubReader: BackfillReader {
    public enum Kind: String, Sendable, CaseIterable {
        case deployments
        case workflowRuns = "workflow-runs"
    }

    public let api: ProviderAPI
    public let owner: String
    public let repo: String
    public let kind: Kind
    public var provider: ProviderAPI.Provider { .github }

    /// `repository` is `OWNER/NAME`.
    public init(api: ProviderAPI, repository: String, kind: Kind) throws {
        let parts = repository.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.unicodeScalars.allSatisfy(allowed.contains) })
        else {
            throw BackfillError(
                .usage, "--repo must be OWNER/NAME (for example octo-org/octo-repo), not '\(repository)'")
        }
        self.api = api
        self.owner = String(parts[0])
        self.repo = String(parts[1])
        self.kind = kind
    }

    var repoPath: String { "/repos/\(owner)/\(repo)" }

    public func read(
        _ window: BackfillWindow, progress: BackfillProgress, emit: (SyntheticDelivery) async throws -> Void
    ) async throws {
        // The repository first: it is every payload's `repository`, and a refused token shows here.
        let repository = try await api.get(repoPath).json
        switch kind {
        case .deployments: try await readDeployments(window, repository: repository, progress: progress, emit: emit)
        case .workflowRuns: try await readRuns(window, repository: repository, progress: progress, emit: emit)
        }
    }

    static func query(_ items: [(String, String)]) -> String {
        var c = URLComponents()
        c.queryItems = items.map { URLQueryItem(name: $0.0, value: $0.1) }
        // `+` is a space in a query string: encode it (an environment or a time zone may carry one).
        return "?" + (c.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
    }

    func readDeployments(
        _ window: BackfillWindow, repository: JSONValue, progress: BackfillProgress,
        emit: (SyntheticDelivery) async throws -> Void
    ) async throws {
        var items = [("per_page", "100")]
        if let environment = window.environment { items.append(("environment", environment)) }
        var next: String? = repoPath + "/deployments" + Self.query(items)
        // GitHub lists deployments newest first: once a page's oldest deployment was created more than a day before
        // the window, older pages cannot hold statuses inside it (a deploy does not run for a day).
        let horizon = window.since.addingTimeInterval(-86400)
        while let url = next {
            let page = try await api.get(url)
            progress.update {
                $0.pagesRead += 1
                if let t = page.totalPages { $0.totalPages = t }
            }
            let deployments = page.json.arrayValue ?? []
            var oldest: Date?
            for deployment in deployments {
                guard case .object(let d) = deployment, let id = d["id"]?.number else { continue }
                let created = d["created_at"]?.stringValue.flatMap(TimeParsing.parse)
                if let created { oldest = min(oldest ?? created, created) }
                if let created, created < horizon || created >= window.until { continue }
                if let environment = window.environment, d["environment"]?.stringValue != environment { continue }
                progress.update { $0.deploymentsRead += 1 }
                let statuses = try await api.getAll(
                    repoPath + "/deployments/\(JSONValue.format(id))/statuses" + Self.query([("per_page", "100")]))
                if statuses.isEmpty { progress.update { $0.withoutStatus += 1 } }
                // Oldest first, as GitHub sent them.
                for status in statuses.reversed() {
                    guard case .object(let s) = status, let statusID = s["id"]?.number,
                        let at = s["updated_at"]?.stringValue.flatMap(TimeParsing.parse)
                            ?? s["created_at"]?.stringValue.flatMap(TimeParsing.parse),
                        window.contains(at)
                    else { continue }
                    let payload = JSONValue.object([
                        "action": .string("created"),
                        "deployment_status": status,
                        "deployment": deployment,
                        "repository": repository,
                        "sender": s["creator"] ?? d["creator"] ?? .null,
                    ])
                    let key = "backfill:github:\(JSONValue.format(statusID))"
                    let environment = s["environment"]?.stringValue ?? d["environment"]?.stringValue ?? "?"
                    let state = s["state"]?.stringValue ?? "?"
                    progress.update { $0.built += 1 }
                    try await emit(
                        SyntheticDelivery(
                            key: key,
                            headers: Self.headers(event: "deployment_status", key: key),
                            payload: payload,
                            label:
                                "deployment \(JSONValue.format(id)) status \(JSONValue.format(statusID)) "
                                + "(\(environment), \(state))",
                            at: at))
                }
            }
            if let oldest, oldest < horizon { break }
            next = page.next
        }
    }

    func readRuns(
        _ window: BackfillWindow, repository: JSONValue, progress: BackfillProgress,
        emit: (SyntheticDelivery) async throws -> Void
    ) async throws {
        let created = BackfillWindow.iso(window.since) + ".." + BackfillWindow.iso(window.until)
        var next: String? =
            repoPath + "/actions/runs"
            + Self.query([("status", "completed"), ("created", created), ("per_page", "100")])
        while let url = next {
            let page = try await api.get(url)
            progress.update {
                $0.pagesRead += 1
                if let t = page.totalPages { $0.totalPages = t }
            }
            for run in page.json["workflow_runs"]?.arrayValue ?? [] {
                guard case .object(let r) = run, let id = r["id"]?.number,
                    let at = (r["updated_at"] ?? r["created_at"])?.stringValue.flatMap(TimeParsing.parse)
                else { continue }
                progress.update { $0.deploymentsRead += 1 }
                let attempt = r["run_attempt"]?.number ?? 1
                // The webhook's `workflow` is the workflow object; a run carries its id, name and path.
                var workflow: [String: JSONValue] = [:]
                workflow["id"] = r["workflow_id"]
                workflow["name"] = r["name"]
                workflow["path"] = r["path"]
                workflow["url"] = r["workflow_url"]
                let payload = JSONValue.object([
                    "action": .string("completed"),
                    "workflow_run": run,
                    "workflow": .object(workflow),
                    "repository": r["repository"] ?? repository,
                    "sender": r["triggering_actor"] ?? r["actor"] ?? .null,
                ])
                let key = "backfill:github-run:\(JSONValue.format(id))-\(JSONValue.format(attempt))"
                progress.update { $0.built += 1 }
                try await emit(
                    SyntheticDelivery(
                        key: key, headers: Self.headers(event: "workflow_run", key: key), payload: payload,
                        label:
                            "workflow run \(JSONValue.format(id)) attempt \(JSONValue.format(attempt)) "
                            + "(\(r["name"]?.stringValue ?? "?"), \(r["conclusion"]?.stringValue ?? "?"))",
                        at: at))
            }
            next = page.next
        }
    }

    /// The headers of GitHub's webhook (without a signature: nothing verifies a delivery the bridge fetched itself).
    static func headers(event: String, key: String) -> [(String, String)] {
        [
            ("Content-Type", "application/json"), ("User-Agent", "cloudthread-bridge-backfill"),
            ("X-GitHub-Event", event), ("X-GitHub-Delivery", key),
        ]
    }
}
