import ArgumentParser
import AsyncHTTPClient
import BridgeCloudthread
import Foundation
import NIOCore

/// `cloudthread-bridge cost-impact`: what a deploy did to the daily cost, as a pipeline gate (docs/cost-impact.md).
struct CostImpactCommandLine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cost-impact",
        abstract: "Compare the mean daily cost after a moment with the days before it; exit 1 above --fail-above.")

    @Option(help: "A Cost View id.") var view: String?
    @Option(name: .customLong("unit-metric"), help: "A Unit Metric id (instead of --view).") var unitMetric: String?
    @Option(help: "The deploy's time: RFC 3339 (2024-05-01T14:23:00Z), a date, or now.") var at: String?
    @Option(help: "Whole days before the deploy day (default 7d).") var before: String?
    @Option(help: "Whole days after the deploy day (default 3d).") var after: String?
    @Option(name: .customLong("fail-above"), help: "Exit 1 when the daily cost rose by more than this (e.g. 10%).")
    var failAbove: String?
    @Option(help: "text or json (default text).") var format: String?
    @Option(help: "How long cost data takes to settle before a day counts (default 1d).") var settle: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let base = (env["CLOUDTHREAD_API_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://api.cloudthread.io")
        let key = env["CLOUDTHREAD_API_KEY"]
        let options = CostImpactCLIOptions(
            view: view, unitMetric: unitMetric, at: at, before: before, after: after, failAbove: failAbove,
            format: format, settle: settle)
        let result = await CostImpactCommand.run(options, apiKey: key, now: Date()) { path, query in
            var components = URLComponents(string: base.hasSuffix("/") ? String(base.dropLast()) + path : base + path)
            components?.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
            guard let url = components?.url?.absoluteString else { throw URLError(.badURL) }
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "x-api-key", value: key ?? "")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 4 << 20)
            return (Int(response.status.code), Array(buffer: body))
        }
        if result.isError {
            FileHandle.standardError.write(Data((result.output + "\n").utf8))
        } else {
            print(result.output)
        }
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }
}
