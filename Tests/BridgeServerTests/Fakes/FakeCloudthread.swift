import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

@testable import BridgeCore

/// A fake Cloudthread API served in-process on a loopback port. It enforces the API's contract
/// (API key, hourly timestamps, description length, at most 10 string dimensions,
/// the aggregation enum, known teams and streams) and upserts data points the way Cloudthread does.
final class FakeCloudthread: Sendable {
    struct DataPointKey: Hashable {
        var metric: String
        var aggregation: String
        var dimensions: [String: String]
        var timestamp: String
    }

    struct State {
        var events: [[String: JSONValue]] = []
        var points: [DataPointKey: Double] = [:]
        var ingestRequests = 0
        var eventRequests = 0
        var requestLog: [String] = []
        /// Forced answers, consumed one per request: (status, Retry-After).
        var forced: [(Int, String?)] = []
        var apiKey = "test-api-key"
        var teams: [(id: String, name: String)] = [("3", "platform"), ("7", "payments")]
        var streams: Set<String> = ["stream-token-1"]
        var rejectDescriptionsContaining: String?
        /// A request holding an event with this text is answered 500 (a record Cloudthread keeps failing on).
        var failDescriptionsContaining: String?
        /// Daily cost series by Cost View id (`GET /cost/metric/{id}`), as `YYYYMMDD` → cost.
        var costViews: [String: [String: Double]] = [:]
        /// Daily unit cost series by Unit Metric id (`GET /unit/metric/{id}`).
        var unitMetrics: [String: [String: Double]] = [:]
        var costQueries: [String] = []
        /// Paths answered 503 while set (an outage of those endpoints; "*" is every path, GET /teams included).
        var unavailable: Set<String> = []
        /// `POST /events` requests that commit their events and then answer 500 (the bridge sends them again).
        var failAfterCommit = 0
    }

    let state = Mutex(State())
    private let port = Mutex(0)
    private let task = Mutex<Task<Void, any Error>?>(nil)

    init() {}

    var baseURL: String { "http://127.0.0.1:\(port.withLock { $0 })" }

    var events: [[String: JSONValue]] { state.withLock { $0.events } }
    var points: [DataPointKey: Double] { state.withLock { $0.points } }

    func force(_ statuses: [(Int, String?)]) { state.withLock { $0.forced += statuses } }
    func setAPIKey(_ key: String) { state.withLock { $0.apiKey = key } }

    func value(metric: String, aggregation: String = "Sum", dimensions: [String: String], timestamp: String) -> Double?
    {
        points[DataPointKey(metric: metric, aggregation: aggregation, dimensions: dimensions, timestamp: timestamp)]
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: "{\"message\":\(JSONValue.string(message).json)}")))
    }

    /// Checks the API key and the forced answers; nil when the request may proceed.
    func gate(_ request: Request) -> Response? {
        state.withLock { s in
            s.requestLog.append("\(request.method) \(request.uri.path)")
            if s.unavailable.contains("*") || s.unavailable.contains(request.uri.path) {
                return FakeCloudthread.error(.serviceUnavailable, "service unavailable")
            }
            if !s.forced.isEmpty {
                let (status, retryAfter) = s.forced.removeFirst()
                var headers: HTTPFields = [.contentType: "application/json"]
                if let retryAfter { headers[.retryAfter] = retryAfter }
                return Response(
                    status: .init(code: status), headers: headers,
                    body: .init(byteBuffer: ByteBuffer(string: "{\"message\":\"forced \(status)\"}")))
            }
            if request.headers[HTTPField.Name("x-api-key")!] != s.apiKey {
                return FakeCloudthread.error(.unauthorized, "invalid API key")
            }
            return nil
        }
    }

    static func hourly(_ value: JSONValue?) -> Bool {
        guard case .string(let s)? = value else { return false }
        return s.range(of: #"^\d{4}-\d{2}-\d{2} \d{2}:00:00$"#, options: .regularExpression) != nil
    }

    func start() async throws {
        let router = Router()
        router.post("/events") { request, _ -> Response in
            if let r = self.gate(request) { return r }
            let body = try await request.body.collect(upTo: 10 << 20)
            guard case .object(let o)? = try? JSONValue.parse(Array(body.readableBytesView)),
                case .array(let data)? = o["data"], !data.isEmpty
            else {
                return FakeCloudthread.error(.badRequest, "body must be {\"data\": [...]}")
            }
            var accepted: [[String: JSONValue]] = []
            for item in data {
                guard case .object(let e) = item else {
                    return FakeCloudthread.error(.badRequest, "event must be an object")
                }
                guard FakeCloudthread.hourly(e["timestamp"]) else {
                    return FakeCloudthread.error(.badRequest, "timestamp must be on the hour")
                }
                guard case .object(let payload)? = e["payload"], case .string(let type)? = payload["type"],
                    !type.isEmpty
                else {
                    return FakeCloudthread.error(.badRequest, "payload.type is required")
                }
                if case .string(let d)? = payload["description"] {
                    if d.unicodeScalars.count > 1000 {
                        return FakeCloudthread.error(.badRequest, "description longer than 1000 characters")
                    }
                    if let bad = self.state.withLock({ $0.rejectDescriptionsContaining }), d.contains(bad) {
                        return FakeCloudthread.error(.badRequest, "description contains forbidden text '\(bad)'")
                    }
                    if let poison = self.state.withLock({ $0.failDescriptionsContaining }), d.contains(poison) {
                        return FakeCloudthread.error(.internalServerError, "internal error")
                    }
                }
                if let team = e["team_id"], team != .null {
                    guard case .number(let n) = team else {
                        return FakeCloudthread.error(.badRequest, "team_id must be an integer")
                    }
                    let known = self.state.withLock { s in s.teams.contains { $0.id == JSONValue.format(n) } }
                    if !known { return FakeCloudthread.error(.notFound, "No team found") }
                }
                accepted.append(e)
            }
            let failAfter = self.state.withLock {
                $0.events += accepted
                $0.eventRequests += 1
                guard $0.failAfterCommit > 0 else { return false }
                $0.failAfterCommit -= 1
                return true
            }
            if failAfter { return FakeCloudthread.error(.internalServerError, "internal error after committing") }
            return Response(status: .created)
        }
        router.post("/streams/ingest") { request, _ -> Response in
            if let r = self.gate(request) { return r }
            let body = try await request.body.collect(upTo: 10 << 20)
            guard case .object(let o)? = try? JSONValue.parse(Array(body.readableBytesView)) else {
                return FakeCloudthread.error(.badRequest, "invalid JSON")
            }
            guard case .string(let token)? = o["data_stream_token"] else {
                return FakeCloudthread.error(.badRequest, "data_stream_token required")
            }
            guard self.state.withLock({ $0.streams.contains(token) }) else {
                return FakeCloudthread.error(.notFound, "No stream found")
            }
            guard case .string(let agg)? = o["metric_agg_func"], ["Sum", "Average", "Maximum", "Minimum"].contains(agg)
            else {
                return FakeCloudthread.error(.badRequest, "metric_agg_func must be Sum, Average, Maximum or Minimum")
            }
            guard case .array(let data)? = o["data"], !data.isEmpty else {
                return FakeCloudthread.error(.badRequest, "data required")
            }
            var updates: [(DataPointKey, Double)] = []
            for item in data {
                guard case .object(let p) = item, FakeCloudthread.hourly(p["timestamp"]),
                    case .string(let ts)? = p["timestamp"]
                else {
                    return FakeCloudthread.error(.badRequest, "timestamp must be on the hour")
                }
                guard case .string(let name)? = p["metric_name"], !name.isEmpty else {
                    return FakeCloudthread.error(.badRequest, "metric_name required")
                }
                guard case .number(let value)? = p["metric_value"] else {
                    return FakeCloudthread.error(.badRequest, "metric_value must be a number")
                }
                var dims: [String: String] = [:]
                if let d = p["custom_dimensions"], d != .null {
                    guard case .object(let dd) = d, dd.count <= 10 else {
                        return FakeCloudthread.error(.badRequest, "at most 10 custom dimensions")
                    }
                    for (k, v) in dd {
                        guard case .string(let s) = v else {
                            return FakeCloudthread.error(.badRequest, "dimension values must be strings")
                        }
                        dims[k] = s
                    }
                }
                updates.append((DataPointKey(metric: name, aggregation: agg, dimensions: dims, timestamp: ts), value))
            }
            self.state.withLock { s in
                for (k, v) in updates { s.points[k] = v }  // upsert: a second write replaces
                s.ingestRequests += 1
            }
            return Response(status: .created)
        }
        router.get("/cost/metric/:id") { request, context -> Response in
            self.series(request, context, field: "current_timeframe_cost", what: "cost view") { $0.costViews }
        }
        router.get("/unit/metric/:id") { request, context -> Response in
            self.series(request, context, field: "current_timeframe_unit_metric", what: "unit metric") {
                $0.unitMetrics
            }
        }
        router.get("/teams") { request, _ -> Response in
            if let r = self.gate(request) { return r }
            let teams = self.state.withLock { $0.teams }
            let json = JSONValue.array(teams.map { .object(["id": .string($0.id), "name": .string($0.name)]) }).json
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: json)))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in self.port.withLock { $0 = channel.localAddress?.port ?? 0 } })
        let started = Task { try await app.runService() }
        task.withLock { $0 = started }
        for _ in 0..<200 where port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(10)) }
    }

    /// A daily series from `state` between `start_date` and `end_date` (days missing from the state are missing
    /// from the answer, as when Cloudthread has no data for them); 404 for an id the test did not set.
    func series(
        _ request: Request, _ context: BasicRequestContext, field: String, what: String,
        _ table: (State) -> [String: [String: Double]]
    ) -> Response {
        if let r = gate(request) { return r }
        let id = context.parameters.get("id") ?? ""
        state.withLock { $0.costQueries.append(request.uri.description) }
        guard let series = state.withLock({ table($0)[id] }) else {
            return FakeCloudthread.error(.notFound, "\(what) not found")
        }
        let start = (request.uri.queryParameters.get("start_date") ?? "").replacingOccurrences(of: "-", with: "")
        let end = (request.uri.queryParameters.get("end_date") ?? "").replacingOccurrences(of: "-", with: "")
        let points = series.keys.sorted().filter { $0 >= start && $0 <= end }.map {
            JSONValue.object(["date": .string($0), field: .number(series[$0]!)])
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(["data": .array(points)]).json)))
    }

    func stop() async {
        let t = task.withLock { $0 }
        t?.cancel()
        _ = try? await t?.value
    }
}
