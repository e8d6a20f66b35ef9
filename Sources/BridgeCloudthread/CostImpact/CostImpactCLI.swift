import BridgeCore
import Foundation

// `cloudthread-bridge cost-impact`: the command's logic without argument parsing, environment or network, so that
// it can be tested with a fake fetch. The ArgumentParser glue passes the raw option strings, the API key from the
// environment, the clock and a fetch closure that performs GET with `x-api-key`.
//
//   cloudthread-bridge cost-impact --view ID | --unit-metric ID --at TIME [--before 7d] [--after 3d]
//                                  [--fail-above 10%] [--settle 1d] [--format text|json] [--description TEXT]
//
// Exit codes: 0 the comparison ran (whatever it found, including "not enough data"); 1 the mean daily value rose
// by more than --fail-above; 2 usage error, no API key, or Cloudthread could not answer (401/403, 404, 4xx, 5xx,
// network, malformed answer).

/// The command's options as the user typed them (nil: not given).
public struct CostImpactCLIOptions: Sendable, Equatable {
    public var view: String?
    public var unitMetric: String?
    /// RFC 3339 date-time, a full date (00:00 UTC), or `now`.
    public var at: String?
    public var before: String?
    public var after: String?
    public var failAbove: String?
    /// `text` (default) or `json`.
    public var format: String?
    /// Settling delay (default 1d): a day counts once it ended this long ago.
    public var settle: String?
    /// Prefix of the text line (default: "cost view ID" / "unit metric ID").
    public var description: String?

    public init(
        view: String? = nil, unitMetric: String? = nil, at: String? = nil, before: String? = nil, after: String? = nil,
        failAbove: String? = nil, format: String? = nil, settle: String? = nil, description: String? = nil
    ) {
        self.view = view
        self.unitMetric = unitMetric
        self.at = at
        self.before = before
        self.after = after
        self.failAbove = failAbove
        self.format = format
        self.settle = settle
        self.description = description
    }
}

/// What to print and how to exit. `isError`: print to standard error (the output is the error message, as JSON
/// `{"error": ..., "exit_code": 2}` under `--format json`).
public struct CostImpactCLIResult: Sendable, Equatable {
    public var output: String
    public var exitCode: Int32
    public var isError: Bool
}

/// Performs `GET path?query` against Cloudthread (base URL and `x-api-key` are the closure's business).
public typealias CostImpactFetch =
    @Sendable (_ path: String, _ query: [(String, String)]) async throws -> (status: Int, body: [UInt8])

public enum CostImpactCommand {
    public static let apiKeyVariable = "CLOUDTHREAD_API_KEY"

    /// Runs the command. `apiKey` is the environment's value (nil or empty: exit 2 before any request).
    public static func run(_ options: CostImpactCLIOptions, apiKey: String?, now: Date, fetch: CostImpactFetch) async
        -> CostImpactCLIResult
    {
        // Format first, so that every later error can be rendered in it.
        let format = options.format ?? "text"
        guard format == "text" || format == "json" else {
            return failure("--format \(costImpactShown(format)): use text or json", json: false)
        }
        let json = format == "json"

        // Usage.
        let source: CostSource
        let deployAt: Date
        let spec: CostImpactSpec
        do {
            switch (options.view, options.unitMetric) {
            case (let v?, nil): source = .costView(try CostImpactParse.metricID(v, option: "--view"))
            case (nil, let u?): source = .unitMetric(try CostImpactParse.metricID(u, option: "--unit-metric"))
            case (nil, nil): throw CostImpactError(.usage, "give --view ID (a Cost View) or --unit-metric ID")
            case (_?, _?): throw CostImpactError(.usage, "give either --view or --unit-metric, not both")
            }
            guard let atText = options.at else {
                throw CostImpactError(.usage, "give --at TIME (RFC 3339 like 2024-05-01T14:23:00Z, or now)")
            }
            if atText.trimmingCharacters(in: .whitespaces).lowercased() == "now" {
                deployAt = now
            } else if let t = CostImpactTime.parseRFC3339(atText.trimmingCharacters(in: .whitespaces)) {
                guard t <= now else {
                    throw CostImpactError(.usage, "--at \(CostImpactTime.rfc3339(t)) is in the future")
                }
                deployAt = t
            } else {
                throw CostImpactError(
                    .usage,
                    "--at \(costImpactShown(atText)) is not a time: use RFC 3339 like 2024-05-01T14:23:00Z (or +02:00), a "
                        + "date like 2024-05-01, or now"
                )
            }
            spec = try CostImpactSpec(
                source: source,
                beforeDays: CostImpactParse.days(options.before ?? "7d", option: "--before"),
                afterDays: CostImpactParse.days(options.after ?? "3d", option: "--after"),
                thresholdPercent: options.failAbove.map { try CostImpactParse.percent($0, option: "--fail-above") },
                settlingHours: CostImpactParse.settlingHours(options.settle ?? "1d", option: "--settle"))
        } catch let e as CostImpactError {
            return failure(e.message, json: json)
        } catch {
            return failure("\(error)", json: json)
        }

        let windows: CostWindows
        do { windows = try CostWindows(deployAt: deployAt, spec: spec) } catch let e as CostImpactError {
            return failure(e.message, json: json)
        } catch {
            return failure("\(error)", json: json)
        }

        guard let apiKey, !apiKey.isEmpty else {
            return failure(
                "\(apiKeyVariable) is not set: cost-impact reads Cloudthread's cost data and needs an API token",
                json: json)
        }
        _ = apiKey

        // Fetch the days settled so far (nothing to ask when not even the first before day has settled).
        var series = CostSeries(values: [:])
        if let range = windows.queryRange(at: now) {
            let request = CostWindows.request(source: source, range: range, options: spec.query)
            let status: Int
            let body: [UInt8]
            do {
                (status, body) = try await fetch(request.path, request.query)
            } catch {
                return failure(
                    "could not reach Cloudthread: \(costImpactShown(String(describing: error), limit: 200))", json: json
                )
            }
            if let message = apiError(status: status, body: body, source: source) {
                return failure(message, json: json)
            }
            do { series = try CostSeriesDecoder.decode(body, source: source) } catch let e as CostImpactError {
                return failure(e.message, json: json)
            } catch {
                return failure("\(error)", json: json)
            }
        }

        let result: CostImpactResult
        do { result = try CostImpact.compare(series: series, spec: spec, deployAt: deployAt, now: now) } catch let e
            as CostImpactError
        {
            return failure(e.message, json: json)
        } catch {
            return failure("\(error)", json: json)
        }
        let prefix = options.description ?? "\(source.noun) \(source.id)"
        let output =
            json ? CostImpactFormat.json(result, prefix: prefix) : CostImpactFormat.text(result, prefix: prefix)
        let failed = spec.thresholdPercent.map { CostImpact.exceeds(result, thresholdPercent: $0) } ?? false
        return CostImpactCLIResult(output: output, exitCode: failed ? 1 : 0, isError: false)
    }

    /// The message for a non-200 answer, nil for 200.
    static func apiError(status: Int, body: [UInt8], source: CostSource) -> String? {
        let detail: String = {
            let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? "" : ": " + costImpactShown(text, limit: 200)
        }()
        switch status {
        case 200: return nil
        case 401, 403: return "Cloudthread refused the API key (HTTP \(status)); check \(apiKeyVariable)"
        case 404: return "\(source.noun) '\(source.id)' not found (HTTP 404); check the id in Cloudthread"
        case 400, 422: return "Cloudthread rejected the query (HTTP \(status))\(detail)"
        case 429: return "Cloudthread is rate limiting (HTTP 429); try again later"
        case 500...599: return "Cloudthread is unavailable (HTTP \(status)); try again later"
        default: return "unexpected answer from Cloudthread (HTTP \(status))\(detail)"
        }
    }

    static func failure(_ message: String, json: Bool) -> CostImpactCLIResult {
        let output =
            json
            ? JSONOut.object([("error", .string(message)), ("exit_code", .int(2))]).rendered
            : "error: " + message
        return CostImpactCLIResult(output: output, exitCode: 2, isError: true)
    }
}
