import BridgeCore
import Foundation
import Logging

/// A log handler writing one JSON object per line to standard error (for containers and log shippers).
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: JSONValue] = [
            "ts": .string(JSONLogHandler.timestamp(Date())),
            "level": .string(event.level.rawValue),
            "msg": .string("\(event.message)"),
            "logger": .string(label),
        ]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, b in b }) {
            object[k] = .string("\(v)")
        }
        let line = JSONValue.object(object).json + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// RFC 3339 in UTC with milliseconds, formatted by hand: a date formatter per line cost more CPU than
    /// everything else a refused webhook does.
    static func timestamp(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let hour = String(CloudthreadTime.hour(Date(timeIntervalSince1970: Double(ms / 1000))).prefix(13))
        let inHour = ms - (ms / 3_600_000) * 3_600_000
        func pad(_ n: Int64, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        // `YYYY-MM-DD HH` with the space made a `T` (the year is always four digits).
        return hour.prefix(10) + "T" + hour.suffix(2) + ":" + pad(inHour / 60000, 2) + ":"
            + pad(inHour % 60000 / 1000, 2) + "." + pad(inHour % 1000, 3) + "Z"
    }
}
