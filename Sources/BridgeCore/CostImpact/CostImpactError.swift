import Foundation

// MARK: - Errors

/// Why a cost-impact input or answer was refused. `message` is meant for a person (CLI output, logs, dead letters).
public struct CostImpactError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A bad option, duration, threshold, time or id: the user's to fix.
        case usage
        /// Cloudthread answered 200 with a body that is not a usable cost series.
        case malformedAnswer
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Shows untrusted text inside a message: at most 40 characters, control characters replaced.
public func costImpactShown(_ text: String, limit: Int = 40) -> String {
    var out = ""
    var count = 0
    for scalar in text.unicodeScalars {
        if count == limit { return "'" + out + "…'" }
        let printable =
            !(scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format
            || scalar.properties.generalCategory == .lineSeparator
            || scalar.properties.generalCategory == .paragraphSeparator)
        out.unicodeScalars.append(printable ? scalar : "?")
        count += 1
    }
    return "'" + out + "'"
}
