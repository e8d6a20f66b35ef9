import BridgeCore
import Foundation
import Logging

public enum BridgeLogging {
    /// Bootstraps swift-log from `LOG_LEVEL` and `LOG_FORMAT` (`json`, or `text`; default text on a terminal).
    public static func bootstrap(environment: [String: String]) {
        let level = environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
        let format = environment["LOG_FORMAT"]?.lowercased() ?? (isatty(2) == 1 ? "text" : "json")
        LoggingSystem.bootstrap { label in
            if format == "json" {
                var h = JSONLogHandler(label: label)
                h.logLevel = level
                return h
            }
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }
}
