import BridgeCloudthread
import BridgeCore
import BridgeStore
import Foundation
import Hummingbird
import Synchronization

/// A Cost View's daily cost as Cloudthread answered it, kept 10 minutes per view and range of days, so a page
/// view makes at most one `GET /cost/metric/{id}`.
final class CostCache: Sendable {
    static let lifetime: TimeInterval = 600
    private let entries = Mutex<[String: (at: Date, result: Result<CostSeries, CostReadError>)]>([:])

    struct CostReadError: Error, Sendable {
        var message: String
    }

    func series(
        view: String, range: CostDayRange, now: Date,
        read: () async -> Result<CostSeries, CostReadError>
    ) async -> Result<CostSeries, CostReadError> {
        let key = "\(view)|\(range)"
        if let hit = entries.withLock({ $0[key] }), now.timeIntervalSince(hit.at) < Self.lifetime { return hit.result }
        let result = await read()
        entries.withLock {
            $0 = $0.filter { now.timeIntervalSince($0.value.at) < Self.lifetime }
            $0[key] = (now, result)
        }
        return result
    }
}

/// `/ui/timeline`: the events the bridge sent (or, in dry run, would send) over 24 hours, 7 or 30 days, as marks
/// on a time axis, one lane per event type; cost follow-ups with their before and after windows; and, with a Cost
/// View and an API key, its daily cost drawn under the marks.
extension ConsoleController {
    static let timelineRanges: [(key: String, label: String, seconds: TimeInterval)] = [
        ("24h", "24 hours", 86400), ("7d", "7 days", 7 * 86400), ("30d", "30 days", 30 * 86400),
    ]
    static let timelineLimit = 500

    /// One mark: an event at its time, or a cost follow-up at its deploy with its windows.
    struct Mark {
        var lane: String
        var at: Date
        var outside: Bool
        var description: String
        var url: String?
        var state: String
        var deliveryId: Int64?
        var windows: CostWindows?
        var rule: String
    }

    func timeline(_ request: Request, _ session: SignedIn) async throws -> Response {
        let query = request.uri.queryParameters
        let range = Self.timelineRanges.first { $0.key == query.get("range") } ?? Self.timelineRanges[1]
        let now = Date()
        let since = now.addingTimeInterval(-range.seconds)
        let records = try await store.timeline(since: since, limit: Self.timelineLimit)
        var marks: [Mark] = []
        for r in records {
            if r.kind == OutboxKind.event.rawValue, let e = EventRecord(storedJSON: r.record) {
                let at = TimeParsing.parse(e.timestamp) ?? r.createdAt
                let inside = at >= since && at <= now
                marks.append(
                    Mark(
                        lane: e.type, at: inside ? at : r.createdAt, outside: !inside,
                        description: e.description ?? "(no description)", url: e.url, state: r.state,
                        deliveryId: r.deliveryId, windows: nil, rule: e.rule))
            } else if r.kind == OutboxKind.costFollowUp.rawValue,
                let f = try? JSONDecoder().decode(StoredCostFollowUp.self, from: Data(r.record.utf8))
            {
                let inside = f.deployAt >= since && f.deployAt <= now
                marks.append(
                    Mark(
                        lane: "cost impact follow-up", at: inside ? f.deployAt : r.createdAt, outside: !inside,
                        description: f.description ?? "(no description)", url: f.url, state: r.state,
                        deliveryId: r.deliveryId, windows: try? CostWindows(deployAt: f.deployAt, spec: f.spec),
                        rule: f.rule))
            }
        }
        let view = query.get("view").flatMap { $0.isEmpty ? nil : $0 } ?? costViewID
        var values: [String: Any] = [
            "ranges": Self.timelineRanges.map { r -> [String: Any] in
                var href = "/ui/timeline?range=\(r.key)"
                if let v = query.get("view"), !v.isEmpty,
                    let escaped = v.addingPercentEncoding(withAllowedCharacters: .alphanumerics)
                {
                    href += "&view=\(escaped)"
                }
                return ["key": r.key, "label": r.label, "href": href, "current": r.key == range.key]
            },
            "rangeLabel": range.label, "count": marks.count, "limited": records.count >= Self.timelineLimit,
            "limit": Self.timelineLimit,
        ]
        if let view { values["view"] = view }
        var cost: [(day: CostDay, value: Double)] = []
        if let view {
            if let client, !dryRun {
                let id = (try? CostImpactParse.metricID(view, option: "view")) ?? ""
                if id.isEmpty {
                    values["costNote"] = "The Cost View id “\(view)” is not an id Cloudthread knows this way."
                } else if let first = CostDay(containing: since), let last = CostDay(containing: now) {
                    let days = CostDayRange(first: first, last: last)
                    let result = await costCache.series(view: id, range: days, now: now) {
                        let request = CostWindows.request(source: .costView(id), range: days)
                        let (outcome, body) = await client.get(path: request.path, query: request.query)
                        guard outcome == .accepted else { return .failure(.init(message: outcome.description)) }
                        do {
                            return .success(try CostSeriesDecoder.decode(body, source: .costView(id)))
                        } catch {
                            return .failure(.init(message: "\(error)"))
                        }
                    }
                    switch result {
                    case .success(let series):
                        cost = series.values.filter { days.contains($0.key) }.sorted { $0.key < $1.key }.map {
                            ($0.key, $0.value)
                        }
                        if cost.isEmpty { values["costNote"] = "Cloudthread has no cost for these days yet." }
                    case .failure(let error):
                        values["costNote"] = "The cost of Cost View \(id) could not be read: \(error.message)."
                    }
                }
            } else {
                values["costNote"] = "The cost line needs CLOUDTHREAD_API_KEY (the bridge is in dry run)."
            }
        } else {
            values["costNote"] =
                "Set CLOUDTHREAD_COST_VIEW_ID (or add ?view=<id> to this page's address) to draw a Cost View's daily "
                + "cost under the events."
        }
        values["chart"] = timelineChart(marks: marks, cost: cost, since: since, now: now, range: range.label)
        values["lanes"] = Dictionary(grouping: marks, by: \.lane).sorted { $0.key < $1.key }.map {
            lane, marks -> [String: Any] in
            [
                "lane": lane, "count": marks.count,
                "marks": marks.sorted { $0.at > $1.at }.map { m -> [String: Any] in
                    var mark: [String: Any] = [
                        "at": ConsoleFormat.time(m.at), "description": m.description, "rule": m.rule,
                        "state": ConsoleFormat.state(m.state, dryRun: dryRun), "outside": m.outside,
                    ]
                    if let url = m.url, url.hasPrefix("https://") || url.hasPrefix("http://") { mark["url"] = url }
                    if let id = m.deliveryId { mark["deliveryId"] = String(id) }
                    if let w = m.windows {
                        mark["windows"] = [
                            "before": "\(w.before.first.iso) to \(w.before.last.iso)",
                            "after": "\(w.after.first.iso) to \(w.after.last.iso)", "due": ConsoleFormat.time(w.due),
                        ]
                    }
                    return mark
                },
            ]
        }
        if !cost.isEmpty {
            values["hasCost"] = true
            values["costRows"] = cost.map {
                ["day": $0.day.iso, "value": CostImpactFormat.money($0.value, signed: false, source: .costView(""))]
            }
        }
        return page("timeline", title: "Timeline", signedIn: session, values)
    }

    /// The SVG's values: lanes of marks over the range, follow-ups' windows as bands, the cost as a line below.
    func timelineChart(
        marks: [Mark], cost: [(day: CostDay, value: Double)], since: Date, now: Date, range: String
    ) -> [String: Any] {
        let left = 150.0
        let right = 710.0
        let laneHeight = 26.0
        let top = 10.0
        let lanes = Array(Set(marks.map(\.lane))).sorted()
        let costTop = top + Double(max(1, lanes.count)) * laneHeight + 10
        let costHeight = cost.isEmpty ? 0.0 : 90.0
        let axisY = costTop + costHeight + 4
        let height = axisY + 20
        let span = now.timeIntervalSince(since)
        func x(_ d: Date) -> Double { left + (right - left) * min(1, max(0, d.timeIntervalSince(since) / span)) }
        func f(_ v: Double) -> String { ConsoleChart.format(v) }
        let laneValues: [[String: Any]] = lanes.enumerated().map { i, lane in
            let y = top + Double(i) * laneHeight + laneHeight / 2
            return [
                "name": lane, "y": f(y), "textY": f(y + 4), "left": f(left), "right": f(right),
                "marks": marks.filter { $0.lane == lane }.map { m -> [String: Any] in
                    var v: [String: Any] = [
                        "x": f(x(m.at)), "y": f(y), "state": m.state, "outside": m.outside,
                        "label":
                            "\(ConsoleFormat.time(m.at)): \(m.description) (\(ConsoleFormat.state(m.state, dryRun: dryRun)))"
                            + (m.outside
                                ? "; its own time is outside this range, shown when the bridge received it" : "")
                            ,
                    ]
                    if let w = m.windows {
                        let b0 = x(w.before.first.start)
                        let b1 = x(w.before.last.start.addingTimeInterval(86400))
                        let a0 = x(w.after.first.start)
                        let a1 = x(w.after.last.start.addingTimeInterval(86400))
                        v["windows"] = [
                            [
                                "kind": "before", "x": f(b0), "width": f(max(0, b1 - b0)), "y": f(y - 7),
                                "label": "before window \(w.before.first.iso) to \(w.before.last.iso)",
                            ],
                            [
                                "kind": "after", "x": f(a0), "width": f(max(0, a1 - a0)), "y": f(y - 7),
                                "label": "after window \(w.after.first.iso) to \(w.after.last.iso)",
                            ],
                        ]
                    }
                    return v
                },
            ]
        }
        var ticks: [[String: Any]] = []
        let step = span <= 86400 ? 6 * 3600.0 : span <= 7 * 86400 ? 86400.0 : 5 * 86400.0
        var t = since
        while t <= now.addingTimeInterval(1) {
            ticks.append([
                "x": f(x(t)), "text": span <= 86400 ? ConsoleFormat.hour(t) : String(ConsoleFormat.day(t).suffix(5)),
                "anchor": t == since ? "start" : x(t) > right - 25 ? "end" : "middle",
            ])
            t = t.addingTimeInterval(step)
        }
        var values: [String: Any] = [
            "viewBox": "0 0 720 \(Int(height))", "lanes": laneValues, "ticks": ticks, "axisY": f(axisY),
            "tickY": f(axisY + 14), "left": f(left), "right": f(right),
        ]
        let counts = Dictionary(grouping: marks, by: \.lane).sorted { $0.key < $1.key }.map {
            "\($0.value.count) \($0.key)"
        }
        var desc =
            marks.isEmpty
            ? "No event in the last \(range)."
            : "\(marks.count) event\(marks.count == 1 ? "" : "s") in the last \(range), by type: "
                + "\(counts.joined(separator: ", "))."
        if !cost.isEmpty {
            let peak = max(cost.map(\.value).max() ?? 0, 0.01)
            let points = cost.map { c -> (Double, Double, String) in
                let px = x(c.day.start.addingTimeInterval(43200))
                let py = costTop + costHeight - 8 - (costHeight - 16) * max(0, c.value) / peak
                return (
                    px, py, "\(c.day.iso): \(CostImpactFormat.money(c.value, signed: false, source: .costView("")))"
                )
            }
            values["cost"] =
                [
                    "points": points.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " "),
                    "dots": points.map { ["x": f($0.0), "y": f($0.1), "label": $0.2] },
                    "labelY": f(costTop + 10), "peakY": f(costTop + 24), "baseY": f(costTop + costHeight - 8),
                    "peak": CostImpactFormat.money(peak, signed: false, source: .costView("")),
                ] as [String: Any]
            desc +=
                " Under them, the Cost View's daily cost, from \(points.first?.2 ?? "") to \(points.last?.2 ?? "")"
                + " (highest \(CostImpactFormat.money(peak, signed: false, source: .costView(""))))."
        }
        values["desc"] = desc
        return values
    }
}
