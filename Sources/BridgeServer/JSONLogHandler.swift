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

    static func timestamp(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }
}
