import BridgeCore
import Foundation

/// Past deployments of one GitLab project (`GET /projects/:id/deployments`, the project's path URL-encoded as its
/// id), each as the "Deployment Hook" webhook GitLab sends when a deployment's status changes.
///
/// The payload follows GitLab's documented deployment event
/// (https://docs.gitlab.com/user/project/integrations/webhook_events/#deployment-events), built from the
/// Deployments API's objects (https://docs.gitlab.com/api/deployments/) and the project (`GET /projects/:id`).
public struct GitLabReader: BackfillReader {
    public let api: ProviderAPI
    public let project: String
    public var provider: ProviderAPI.Provider { .gitlab }

    /// `project` is `GROUP/NAME` (subgroups allowed) or a numeric id.
    public init(api: ProviderAPI, project: String) throws {
        let parts = project.split(separator: "/", omittingEmptySubsequences: false)
        guard !project.isEmpty, parts.allSatisfy({ !$0.isEmpty }),
            parts.count >= 2 || project.allSatisfy(\.isNumber)
        else {
            throw BackfillError(.usage, "--project must be GROUP/NAME (or the project's number), not '\(project)'")
        }
        self.api = api
        self.project = project
    }

    /// The project's path as its `:id`: every character but letters, digits and `-._~` percent-encoded (`/` is
    /// `%2F`).
    var projectID: String {
        project.addingPercentEncoding(
            withAllowedCharacters: CharacterSet(
                charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"))
            ?? project
    }

    public func read(
        _ window: BackfillWindow, progress: BackfillProgress, emit: (SyntheticDelivery) async throws -> Void
    ) async throws {
        let projectJSON = try await api.get("/projects/\(projectID)").json
        let hookProject = Self.hookProject(projectJSON)
        let webURL = projectJSON["web_url"]?.stringValue ?? ""
        var items = [
            ("updated_after", BackfillWindow.iso(window.since)), ("updated_before", BackfillWindow.iso(window.until)),
            ("order_by", "updated_at"), ("sort", "asc"), ("per_page", "100"),
        ]
        if let environment = window.environment { items.append(("environment", environment)) }
        var next: String? = "/projects/\(projectID)/deployments" + GitHubReader.query(items)
        while let url = next {
            let page = try await api.get(url)
            progress.update {
                $0.pagesRead += 1
                if let t = page.totalPages { $0.totalPages = t }
            }
            for deployment in page.json.arrayValue ?? [] {
                guard case .object(let d) = deployment, let id = d["id"]?.number else { continue }
                progress.update { $0.deploymentsRead += 1 }
                let environment = d["environment"]?["name"]?.stringValue ?? d["environment"]?.stringValue ?? ""
                if let wanted = window.environment, environment != wanted { continue }
                let payload = Self.payload(d, project: hookProject, webURL: webURL, environment: environment)
                let at =
                    payload["status_changed_at"]?.stringValue.flatMap(TimeParsing.parse)
                    ?? d["updated_at"]?.stringValue.flatMap(TimeParsing.parse) ?? window.until
                let key = "backfill:gitlab:\(JSONValue.format(id))"
                progress.update { $0.built += 1 }
                try await emit(
                    SyntheticDelivery(
                        key: key,
                        headers: [
                            ("Content-Type", "application/json"), ("User-Agent", "cloudthread-bridge-backfill"),
                            ("X-Gitlab-Event", "Deployment Hook"), ("Idempotency-Key", key),
                        ],
                        payload: payload,
                        label:
                            "deployment \(JSONValue.format(id)) (\(environment), "
                            + "\(d["status"]?.stringValue ?? "?"))",
                        at: at))
            }
            next = page.next
        }
    }

    /// The webhook's `project` from the API's project.
    static func hookProject(_ p: JSONValue) -> JSONValue {
        let web = p["web_url"] ?? .null
        return .object([
            "id": p["id"] ?? .null,
            "name": p["name"] ?? .null,
            "description": p["description"] ?? .null,
            "web_url": web,
            "avatar_url": p["avatar_url"] ?? .null,
            "git_ssh_url": p["ssh_url_to_repo"] ?? .null,
            "git_http_url": p["http_url_to_repo"] ?? .null,
            "namespace": p["namespace"]?["name"] ?? .null,
            "path_with_namespace": p["path_with_namespace"] ?? .null,
            "default_branch": p["default_branch"] ?? .null,
            "ci_config_path": p["ci_config_path"] ?? .null,
            "homepage": web,
            "url": p["ssh_url_to_repo"] ?? .null,
            "ssh_url": p["ssh_url_to_repo"] ?? .null,
            "http_url": p["http_url_to_repo"] ?? .null,
        ])
    }

    /// The "Deployment Hook" body for one deployment of the API.
    static func payload(
        _ d: [String: JSONValue], project: JSONValue, webURL: String, environment: String
    ) -> JSONValue {
        let deployable = d["deployable"]?.objectValue ?? [:]
        let sha = d["sha"]?.stringValue ?? ""
        let user = d["user"]?.objectValue ?? [:]
        // The hook's status_changed_at is when the status last changed: the job's end for a finished deployment.
        let changed = (deployable["finished_at"] ?? d["finished_at"] ?? d["updated_at"])?.stringValue
        var body: [String: JSONValue] = [
            "object_kind": .string("deployment"),
            "status": d["status"] ?? .null,
            "status_changed_at": changed.flatMap(TimeParsing.parse).map { .string(Self.hookTime($0)) } ?? .null,
            "deployment_id": d["id"] ?? .null,
            "deployable_id": deployable["id"] ?? .null,
            "deployable_url": deployable["web_url"] ?? .null,
            "environment": .string(environment),
            "environment_slug": d["environment"]?["slug"] ?? .null,
            "environment_external_url": d["environment"]?["external_url"] ?? .null,
            "environment_tier": d["environment"]?["tier"] ?? .null,
            "project": project,
            "short_sha": .string(String(sha.prefix(8))),
            "user": .object([
                "id": user["id"] ?? .null, "name": user["name"] ?? .null, "username": user["username"] ?? .null,
                "avatar_url": user["avatar_url"] ?? .null, "email": .null,
            ]),
            "user_url": user["web_url"] ?? .null,
            "commit_url": sha.isEmpty ? .null : .string("\(webURL)/-/commit/\(sha)"),
            "commit_title": deployable["commit"]?["title"] ?? .null,
            "ref": d["ref"] ?? .null,
        ]
        if body["deployable_url"] == .null, let job = deployable["id"]?.number, !webURL.isEmpty {
            body["deployable_url"] = .string("\(webURL)/-/jobs/\(JSONValue.format(job))")
        }
        return .object(body)
    }

    /// GitLab's hook time format, in UTC: `2021-04-28 19:50:00 +0000`.
    static func hookTime(_ date: Date) -> String {
        let hour = CloudthreadTime.hour(date)  // YYYY-MM-DD HH:00:00
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let within = ((seconds % 3600) + 3600) % 3600
        let mm = within / 60
        let ss = within % 60
        return String(hour.prefix(14)) + (mm < 10 ? "0" : "") + "\(mm):" + (ss < 10 ? "0" : "") + "\(ss) +0000"
    }
}
