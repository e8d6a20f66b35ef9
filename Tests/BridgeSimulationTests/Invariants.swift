import BridgeCore
import Foundation

@testable import BridgeDelivery

extension Simulation {
    /// The invariants, checked after every schedule.
    static func check(
        _ s: Schedule, _ base: any SimulatedOutbox, _ server: SimCloudthread, _ ledger: Ledger,
        _ truth: [String: Double], _ crashed: Set<Int>, _ c: ForwarderConfiguration, _ report: inout Report
    ) async {
        func expect(_ ok: Bool, _ text: @autoclosure () -> String) {
            report.checks += 1
            if !ok, report.violations.count < 20 { report.violations.append(text()) }
        }
        // Nothing was claimed twice, marked by a process that did not hold it, or sent unheld or after settling.
        report.checks += 1
        report.violations += ledger.violations

        guard let rows = try? await base.rows() else {
            report.violations.append("the store's rows could not be read")
            return
        }
        let events = Dictionary(s.arrivals.flatMap(\.events).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let fingerprint = Dictionary(
            uniqueKeysWithValues: Schedule.Stream.allCases.map { (StreamTokenRef.fingerprint($0.token), $0) })
        var seenEvents = Set<Int>()

        for row in rows {
            expect(row.state != "inflight", "row \(row.id) is still claimed after the drain")
            if row.kind == .followUp {
                expect(
                    row.state == "sent",
                    "cost follow-up f\(-(row.event ?? 0)) ended \(row.state): \(row.lastError ?? "")")
                let runs = ledger.completions[row.id] ?? 0
                expect(runs == 1, "cost follow-up f\(-(row.event ?? 0)) ran \(runs) times")
                continue
            }
            if row.kind == .event, let id = row.event, id < 0 {
                // The event a cost follow-up found: a healthy record like any other.
                expect(
                    row.state == "sent",
                    "the event of cost follow-up f\(-id) ended \(row.state): \(row.lastError ?? "")")
                continue
            }
            if row.kind == .event {
                guard let id = row.event, let e = events[id] else {
                    expect(false, "row \(row.id) holds an event the schedule never made")
                    continue
                }
                seenEvents.insert(id)
                let error = row.lastError ?? ""
                let committed = !(server.commits[id] ?? []).isEmpty
                switch row.state {
                case "sent":
                    expect(committed, "r\(id) is marked sent but Cloudthread never committed it")
                    expect(!e.bad && !e.poison, "r\(id) is marked sent although Cloudthread cannot take it")
                case "dead":
                    report.deadLetters += 1
                    if error.hasPrefix("rejected by Cloudthread (400)") {
                        expect(
                            e.bad && error.contains("r\(id) is invalid"),
                            "r\(id) dead after a 400 not naming it: \(error)")
                    } else if error.hasPrefix("not found by Cloudthread (404)") {
                        expect(e.team == .id(999) && error.contains("r\(id)"), "r\(id) dead after a 404 not naming it")
                    } else if error.hasPrefix("unknown Cloudthread team") {
                        expect(e.team == .name("ghost"), "r\(id) dead for an unknown team it does not have")
                    } else if error.hasPrefix("poison record:") {
                        let evidence = poisonEvidence(id, server, c)
                        expect(evidence == nil, "r\(id) was judged poison without the evidence: \(evidence ?? "")")
                        if !e.poison {
                            report.healthyPoisoned += 1
                            expect(
                                s.hasRandomFailures,
                                "r\(id) is healthy and was judged poison with outages alone: \(error)")
                        }
                    } else {
                        expect(false, "r\(id) is a dead letter for a reason the rules do not allow: \(error)")
                    }
                    expect(!committed || e.poison == false, "r\(id) was committed and then dead-lettered")
                default:
                    expect(e.poison, "r\(id) was never delivered (\(row.state), last error: \(error))")
                }
                let healthy = !e.bad && !e.poison && e.team != .id(999) && e.team != .name("ghost")
                if healthy && row.state != "sent" && !error.hasPrefix("poison record:") {
                    expect(false, "healthy r\(id) ended \(row.state): \(error)")
                }
            } else {
                guard let key = row.key, let stream = fingerprint[String(key.prefix { $0 != "|" })] else {
                    expect(false, "row \(row.id) holds a data point the schedule never made")
                    continue
                }
                let error = row.lastError ?? ""
                switch (stream, row.state) {
                case (.live, "sent"), (.retired, "sent"):
                    break
                case (.gone, "dead"):
                    expect(error.hasPrefix("data stream not found by Cloudthread (404)"), "gone stream: \(error)")
                case (.retired, "dead"):
                    expect(
                        s.tokenRemovedAt != nil && error.contains("is no longer configured"),
                        "data point \(key) dead although its token is configured: \(error)")
                case (.live, "dead") where error.hasPrefix("poison record:"):
                    report.healthyPoisoned += 1
                    expect(s.hasRandomFailures, "data point \(key) judged poison with outages alone: \(error)")
                default:
                    expect(false, "data point \(key) of the \(stream) stream ended \(row.state): \(error)")
                }
            }
        }
        expect(seenEvents.count == events.count, "\(events.count - seenEvents.count) events are missing from the store")

        // Each metric key's last value sent is the stored aggregate, and what the schedule added up.
        for (key, total) in truth {
            guard let stream = fingerprint[String(key.prefix { $0 != "|" })], stream == .live else { continue }
            if rows.contains(where: { $0.key == key && $0.state == "dead" }) { continue }
            expect(
                server.lastValue[key] == total,
                "\(key): Cloudthread has \(server.lastValue[key] ?? .nan), the webhooks added up to \(total)")
            if let stored = rows.last(where: { $0.key == key })?.value {
                expect(stored == total, "\(key): the store holds \(stored), the webhooks added up to \(total)")
            }
        }

        // A duplicate event only after an answer that never arrived, a process that died, or a store that failed
        // to record the send.
        for (id, list) in server.commits where list.count > 1 {
            report.duplicates += list.count - 1
            for i in list.dropLast() {
                let r = server.log[i]
                expect(
                    r.lost || crashed.contains(r.generation) || s.storeFaults > 0,
                    "r\(id) was committed again after Cloudthread's answer to request \(i) reached the bridge")
            }
        }

        // A pause drops nothing (above) and sends nothing: after a refused API key, a process sends no record
        // before `GET /teams` accepted the key again.
        var refused: [Int: Bool] = [:]
        for (i, r) in server.log.enumerated() {
            if case .refused = r.result {
                refused[r.generation] = true
            } else if r.endpoint == .teams, r.result == .accepted {
                refused[r.generation] = false
            } else if r.endpoint != .teams {
                expect(refused[r.generation] != true, "request \(i) was sent while the API key was refused")
            }
        }
    }

    /// Why the log does not support a poison verdict on event `id` (nil when it does): in the process that judged
    /// it, its last `poisonStrikes + 1` requests each carried it alone and failed with a retryable answer, and
    /// between each two of them its endpoint accepted at least `poisonAcceptedBetween` other requests and failed
    /// none.
    static func poisonEvidence(_ id: Int, _ server: SimCloudthread, _ c: ForwarderConfiguration) -> String? {
        let log = server.log
        guard let last = log.lastIndex(where: { $0.events.contains(id) }) else { return "it was never sent" }
        let generation = log[last].generation
        let mine = log.indices.filter { log[$0].generation == generation && log[$0].events.contains(id) }
        let needed = c.poisonStrikes + 1
        guard mine.count >= needed else { return "it was sent \(mine.count) times by its process" }
        let run = Array(mine.suffix(needed))
        for i in run {
            if log[i].events != [id] { return "request \(i) did not carry it alone" }
            if log[i].result != .retryable { return "request \(i) was not a retryable failure" }
        }
        for (a, b) in zip(run, run.dropFirst()) {
            let between = log[(a + 1)..<b].filter { $0.generation == generation && $0.endpoint == .events }
            let accepted = between.filter { $0.result == .accepted }.count
            if accepted < c.poisonAcceptedBetween { return "only \(accepted) accepted between requests \(a) and \(b)" }
            if between.contains(where: { $0.result == .retryable }) {
                return "another request failed between requests \(a) and \(b)"
            }
        }
        return nil
    }
}
