import BridgeCore
import BridgeDelivery
import BridgeMapping
import BridgeStore
import Foundation
import Hummingbird

/// The console's pages: the values each template is rendered with.
extension ConsoleController {
    func overview(_ session: SignedIn) async throws -> Response {
        let now = Date()
        let since = now.addingTimeInterval(-86400)
        let stats = try await store.stats(now: now)
        let activity = Dictionary(
            try await store.activity(since: since, now: now).map { ($0.source, $0) }, uniquingKeysWith: { a, _ in a })
        let outbox = try await store.forwarderActivity(since: since, now: now)
        let hours = outbox.sent.count
        var refused: [String: [Int]] = [:]
        for entry in refusals.recent(limit: refusals.capacity) where entry.at >= since {
            let age = Int(now.timeIntervalSince(entry.at) / 3600)
            guard age >= 0, age < hours else { continue }
            refused[entry.source, default: Array(repeating: 0, count: hours)][hours - 1 - age] += 1
        }
        let all = rules.snapshot.sources.values.sorted { $0.name < $1.name }
        let enabled = all.filter { $0.disabledReason == nil && $0.verifier != nil }
        let configured = enabled.enumerated().map { i, s -> [String: Any] in
            let a = activity[s.name]
            func line(_ status: String) -> [Int] { a?.hourlyByStatus[status] ?? Array(repeating: 0, count: hours) }
            let refusedLine = refused[s.name] ?? Array(repeating: 0, count: hours)
            let duplicateLine = duplicates.hourly(source: s.name, hours: hours, now: now)
            let chart = ConsoleChart.values(
                id: "chart-source-\(i)", title: "\(s.name): webhooks per hour, last 24 hours",
                series: [
                    .init(key: "accepted", label: "accepted", values: line("accepted")),
                    .init(key: "ignored", label: "ignored", values: line("ignored")),
                    .init(key: "rejected", label: "rejected", values: line("rejected")),
                    .init(key: "refused", label: "refused", values: refusedLine),
                    .init(key: "duplicate", label: "duplicates", values: duplicateLine),
                ], now: now)
            var values: [String: Any] = [
                "name": s.name,
                "accepted": a?.counts["accepted"] ?? 0, "ignored": a?.counts["ignored"] ?? 0,
                "rejected": a?.counts["rejected"] ?? 0, "refused": refusedLine.reduce(0, +),
                "duplicates": duplicates.count(source: s.name),
                "lastDelivery": a?.lastReceivedAt.map(ConsoleFormat.time) ?? "none stored", "chart": chart,
            ]
            if s.verifier?.scheme == .unverified { values["unverified"] = true }
            return values
        }
        let disabledSources = all.filter { $0.disabledReason != nil || $0.verifier == nil }
        let disabled = disabledSources.enumerated().map { i, s -> [String: Any] in
            let reason = s.disabledReason ?? "no verification configured"
            // "no secret configured: set GITHUB_WEBHOOK_SECRET" is shown as "set GITHUB_WEBHOOK_SECRET".
            let shown = reason.range(of: ": set ").map { "set " + reason[$0.upperBound...] } ?? reason
            return ["name": s.name, "reason": shown, "last": i == disabledSources.count - 1]
        }
        let forwarderChart = ConsoleChart.values(
            id: "chart-forwarder", title: "Forwarder: records per hour, last 24 hours",
            series: [
                .init(key: "sent", label: dryRun ? "done (dry run)" : "sent", values: outbox.sent),
                .init(key: "pending", label: "pending", values: outbox.pending),
                .init(key: "dead", label: "dead letters", values: outbox.dead),
            ], now: now)
        var values: [String: Any] = [
            "configured": configured, "disabled": disabled, "hasDisabled": !disabled.isEmpty,
            "disabledCount": disabled.count, "forwarderChart": forwarderChart,
            "paused": forwarder.isPaused, "dryRunState": dryRun,
            "pending": stats.pending + stats.inflight, "inflight": stats.inflight, "dead": stats.dead,
            "oldestPending": stats.pending + stats.inflight == 0
                ? "nothing pending" : ConsoleFormat.duration(stats.oldestPendingAge),
            "refusalCapacity": refusals.capacity, "startedAt": ConsoleFormat.time(startedAt),
        ]
        if let error = forwarder.lastError { values["lastError"] = error }
        return page("overview", title: "Overview", signedIn: session, values)
    }

    func deliveries(_ request: Request, _ session: SignedIn) async throws -> Response {
        let query = request.uri.queryParameters
        let source = query.get("source").flatMap { $0.isEmpty ? nil : $0 }
        let status = query.get("status").flatMap { $0.isEmpty ? nil : $0 }
        let origin = query.get("origin").flatMap(DeliveryOrigin.init(rawValue:))
        let before = query.get("before", as: Int64.self)
        let rows = try await store.deliveries(
            before: before, limit: Self.pageSize + 1, source: source, status: status, origin: origin)
        let shown = rows.prefix(Self.pageSize)
        var values: [String: Any] = [
            "rows": shown.map { d -> [String: Any] in
                [
                    "id": String(d.id), "received": ConsoleFormat.time(d.receivedAt), "source": d.source,
                    "status": d.status, "httpStatus": d.httpStatus, "events": d.events, "metrics": d.metrics,
                    "backfill": d.origin == .backfill,
                ]
            },
            "filtered": source != nil || status != nil || origin != nil,
            "sourceOptions": rules.snapshot.sources.keys.sorted().map { s -> [String: Any] in
                ["value": s, "selected": s == source]
            },
            "statusOptions": [String](["accepted", "ignored", "rejected"]).map { s -> [String: Any] in
                ["value": s, "selected": s == status]
            },
            "originOptions": DeliveryOrigin.allCases.map { o -> [String: Any] in
                ["value": o.rawValue, "label": o == .backfill ? "backfill" : "webhooks", "selected": o == origin]
            },
        ]
        if rows.count > Self.pageSize, let last = shown.last {
            var items = [URLQueryItem(name: "before", value: String(last.id))]
            if let source { items.append(URLQueryItem(name: "source", value: source)) }
            if let status { items.append(URLQueryItem(name: "status", value: status)) }
            if let origin { items.append(URLQueryItem(name: "origin", value: origin.rawValue)) }
            var components = URLComponents()
            components.path = "/ui/deliveries"
            components.queryItems = items
            values["older"] = components.string ?? "/ui/deliveries"
        }
        return page("deliveries", title: "Deliveries", signedIn: session, values)
    }

    func delivery(_ id: Int64?, _ session: SignedIn) async throws -> Response {
        guard let id, let detail = try await store.deliveryDetail(id: id) else { return notFound(session) }
        let d = detail.summary
        var values: [String: Any] = [
            "id": String(d.id), "received": ConsoleFormat.time(d.receivedAt), "source": d.source, "status": d.status,
            "httpStatus": d.httpStatus, "clientAddress": detail.request?.clientAddress ?? "unknown",
            "noRequest": detail.request == nil,
        ]
        if let key = d.deliveryKey { values["deliveryKey"] = key }
        if let request = detail.request {
            values["headers"] = request.headers.map { pair -> [String: Any] in
                let masked = StoredRequest.isSensitive(pair[0])
                return ["name": pair[0], "value": masked ? StoredRequest.mask : pair[1], "masked": masked]
            }
            values["body"] = ConsoleFormat.body(request.body, truncated: request.truncated)
            values["truncated"] = request.truncated
            values["bodyLost"] = request.bodyLost
            values["kept"] = request.body.count
            values["size"] = request.bodySize
        }
        if let e = d.explanation {
            values["rules"] = e.rules.map { t -> [String: Any] in
                var rule: [String: Any] = [
                    "rule": t.rule, "matched": t.matched, "events": t.events, "metrics": t.metrics,
                    "checks": t.checks.map { c -> [String: Any] in
                        [
                            "path": c.path, "expectation": c.expectation, "seen": c.seen ?? "(absent)",
                            "passed": c.passed,
                        ]
                    },
                ]
                if let items = t.items { rule["items"] = String(items) }
                return rule
            }
            values["rejected"] = e.rejected.map { ["rule": $0.rule, "reason": $0.reason] }
            values["notes"] = e.notes
        }
        values["records"] = detail.records.map { r -> [String: Any] in
            var record: [String: Any] = [
                "id": String(r.id), "kind": r.kind, "state": r.state, "attempts": r.attempts, "record": r.record,
                "stateText": ConsoleFormat.state(r.state, dryRun: dryRun),
            ]
            if let error = r.lastError { record["lastError"] = error }
            return record
        }
        return page("delivery", title: "Delivery \(d.id)", signedIn: session, values)
    }

    func deadLetters(_ request: Request, _ session: SignedIn) async throws -> Response {
        let notice: String? =
            switch request.uri.queryParameters.get("done") {
            case "retried": "The record is back in the outbox and will be sent again."
            case "discarded": "The dead letter was discarded."
            case "gone": "That dead letter is no longer there."
            default: nil
            }
        let letters = try await store.deadLetters(limit: 200).map { l -> [String: Any] in
            var letter: [String: Any] = [
                "id": String(l.id), "kind": l.kind, "reason": l.reason, "attempts": l.attempts,
                "updated": ConsoleFormat.time(l.updatedAt), "record": l.record, "csrf": session.csrf,
            ]
            if let delivery = l.deliveryId { letter["deliveryId"] = String(delivery) }
            return letter
        }
        return page("dead-letters", title: "Dead letters", signedIn: session, notice: notice, ["letters": letters])
    }

    func rulesPage(_ session: SignedIn) -> Response {
        let snapshot = rules.snapshot
        let sources = snapshot.sources.values.sorted { $0.name < $1.name }
        let files = (snapshot.files.isEmpty ? Array(Set(sources.map(\.file))).sorted() : snapshot.files).map {
            file -> [String: Any] in
            [
                "file": file,
                "sources": sources.filter { $0.file == file }.map { s -> [String: Any] in
                    var source: [String: Any] = [
                        "name": s.name, "enabled": s.disabledReason == nil && s.verifier != nil,
                        "disabledReason": s.disabledReason ?? "no verification configured",
                        "rules": s.rules.map { r -> [String: Any] in
                            ["name": r.name, "line": r.line, "events": r.events.count, "metrics": r.metrics.count]
                        },
                    ]
                    if let preset = s.preset { source["preset"] = preset }
                    return source
                },
            ]
        }
        var values: [String: Any] = ["files": files, "loadedAt": ConsoleFormat.time(snapshot.loadedAt)]
        if let attempt = reloader.lastAttempt {
            values["attempt"] = [
                "at": ConsoleFormat.time(attempt.at), "reason": attempt.reason, "applied": attempt.applied,
                "diagnostics": attempt.diagnostics.map { ["severity": $0.severity.rawValue, "text": $0.description] },
            ]
        }
        return page("rules", title: "Rule files", signedIn: session, values)
    }
}
