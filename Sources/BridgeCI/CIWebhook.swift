import AsyncHTTPClient
import BridgeCore
import Foundation
import NIOCore

/// The webhook `cloudthread-bridge send` posts to the `ci` source (see `mappings/ci.yaml`).
public struct CIWebhook: Sendable, Equatable {
    public var kind: String = "deploy"
    public var service: String?
    public var environment: String?
    public var version: String?
    public var status: String = "success"
    public var description: String?
    public var url: String?
    public var actor: String?
    public var repository: String?
    public var commit: String?
    public var ref: String?
    public var ciProvider: String?
    public var severity: String?
    public var timestamp: Date = Date()

    public init() {}

    /// Defaults read from the CI system's own variables: GitHub Actions, GitLab CI, Jenkins, CircleCI, Buildkite.
    public static func fromCIEnvironment(_ env: [String: String]) -> CIWebhook {
        func v(_ k: String) -> String? { env[k].flatMap { $0.isEmpty ? nil : $0 } }
        var w = CIWebhook()
        if v("GITHUB_ACTIONS") == "true" {
            w.ciProvider = "github-actions"
            w.repository = v("GITHUB_REPOSITORY")
            w.service = v("GITHUB_REPOSITORY").map { String($0.split(separator: "/").last ?? Substring($0)) }
            w.commit = v("GITHUB_SHA")
            w.ref = v("GITHUB_REF_NAME")
            w.actor = v("GITHUB_ACTOR")
            if let server = v("GITHUB_SERVER_URL"), let repo = v("GITHUB_REPOSITORY"), let run = v("GITHUB_RUN_ID") {
                w.url = "\(server)/\(repo)/actions/runs/\(run)"
            }
        } else if v("GITLAB_CI") == "true" {
            w.ciProvider = "gitlab-ci"
            w.repository = v("CI_PROJECT_PATH")
            w.service = v("CI_PROJECT_NAME")
            w.commit = v("CI_COMMIT_SHA")
            w.ref = v("CI_COMMIT_REF_NAME")
            w.actor = v("GITLAB_USER_LOGIN")
            w.url = v("CI_JOB_URL") ?? v("CI_PIPELINE_URL")
            w.environment = v("CI_ENVIRONMENT_NAME")
        } else if v("CIRCLECI") == "true" {
            w.ciProvider = "circleci"
            w.repository = [v("CIRCLE_PROJECT_USERNAME"), v("CIRCLE_PROJECT_REPONAME")].compactMap { $0 }.joined(
                separator: "/")
            w.service = v("CIRCLE_PROJECT_REPONAME")
            w.commit = v("CIRCLE_SHA1")
            w.ref = v("CIRCLE_BRANCH") ?? v("CIRCLE_TAG")
            w.actor = v("CIRCLE_USERNAME")
            w.url = v("CIRCLE_BUILD_URL")
        } else if v("BUILDKITE") == "true" {
            w.ciProvider = "buildkite"
            w.repository = v("BUILDKITE_REPO")
            w.service = v("BUILDKITE_PIPELINE_SLUG")
            w.commit = v("BUILDKITE_COMMIT")
            w.ref = v("BUILDKITE_BRANCH")
            w.actor = v("BUILDKITE_BUILD_CREATOR")
            w.url = v("BUILDKITE_BUILD_URL")
        } else if v("JENKINS_URL") != nil {
            w.ciProvider = "jenkins"
            w.service = v("JOB_BASE_NAME") ?? v("JOB_NAME")
            w.repository = v("GIT_URL")
            w.commit = v("GIT_COMMIT")
            w.ref = v("BRANCH_NAME") ?? v("GIT_BRANCH")
            w.actor = v("BUILD_USER_ID") ?? v("CHANGE_AUTHOR")
            w.url = v("BUILD_URL")
        }
        if w.repository?.isEmpty == true { w.repository = nil }
        return w
    }

    /// The JSON body, keys sorted, absent fields left out.
    public var body: [UInt8] {
        var o: [String: JSONValue] = [
            "kind": .string(kind), "status": .string(status), "timestamp": .string(CIWebhook.rfc3339(timestamp)),
        ]
        let optional: [(String, String?)] = [
            ("service", service), ("environment", environment), ("version", version), ("description", description),
            ("url", url),
            ("actor", actor), ("repository", repository), ("commit", commit), ("ref", ref), ("ci", ciProvider),
            ("severity", severity),
        ]
        for (k, v) in optional { if let v, !v.isEmpty { o[k] = .string(v) } }
        return Array(JSONValue.object(o).json.utf8)
    }

    static func rfc3339(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }
}
