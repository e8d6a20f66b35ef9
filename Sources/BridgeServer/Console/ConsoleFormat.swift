import BridgeCore
import BridgeStore
import Foundation

/// How the console writes times, durations, record states and bodies.
enum ConsoleFormat {
    /// `2024-05-01 14:05:00 UTC`.
    static func time(_ date: Date) -> String {
        let iso = date.formatted(.iso8601)
        return iso.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
    }

    /// `42 s`, `5 min`, `3 h 10 min`, `2 d 4 h`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(max(0, seconds.isFinite ? min(seconds, 1e9) : 0))
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min" }
        if s < 86400 { return "\(s / 3600) h \(s % 3600 / 60) min" }
        return "\(s / 86400) d \(s % 86400 / 3600) h"
    }

    static func state(_ state: String, dryRun: Bool) -> String {
        switch OutboxState(rawValue: state) {
        case .sent?: dryRun ? "done (dry run: logged, not sent)" : "sent: Cloudthread accepted it"
        case .pending?: "pending"
        case .inflight?: "in flight"
        case .dead?: "dead-lettered"
        case nil: state
        }
    }

    /// A body as text: JSON indented when it parses (a cut body is shown as received), anything else as UTF-8
    /// with invalid bytes replaced.
    static func body(_ bytes: [UInt8], truncated: Bool) -> String {
        if !truncated, let value = try? JSONValue.parse(bytes) {
            var out = ""
            pretty(value, indent: 0, into: &out)
            return out
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func pretty(_ value: JSONValue, indent: Int, into out: inout String) {
        let pad = String(repeating: "  ", count: indent + 1)
        let close = String(repeating: "  ", count: indent)
        switch value {
        case .array(let items) where !items.isEmpty:
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += pad
                pretty(item, indent: indent + 1, into: &out)
                out += i < items.count - 1 ? ",\n" : "\n"
            }
            out += close + "]"
        case .object(let members) where !members.isEmpty:
            out += "{\n"
            let keys = members.keys.sorted()
            for (i, key) in keys.enumerated() {
                out += pad + JSONValue.quote(key) + ": "
                pretty(members[key]!, indent: indent + 1, into: &out)
                out += i < keys.count - 1 ? ",\n" : "\n"
            }
            out += close + "}"
        default:
            out += value.json
        }
    }
}

extension ConsoleFormat {
    /// `14:05`, in UTC.
    static func hour(_ date: Date) -> String {
        let s = Int(date.timeIntervalSince1970.rounded(.down))
        let inDay = ((s % 86400) + 86400) % 86400
        let (h, m) = (inDay / 3600, inDay % 3600 / 60)
        return (h < 10 ? "0\(h)" : "\(h)") + (m < 10 ? ":0\(m)" : ":\(m)")
    }

    /// `2024-05-01`, in UTC.
    static func day(_ date: Date) -> String { String(time(date).prefix(10)) }
}
