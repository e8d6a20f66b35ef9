/// Why rule files could not be read at all (problems inside a file are `Diagnostic`s instead).
public struct LoaderError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// The configured rule path does not exist.
        case pathNotFound = "path_not_found"
        /// The path exists but cannot be listed or read.
        case unreadable
    }

    public let reason: Reason
    /// The path concerned.
    public let path: String

    public init(_ reason: Reason, path: String) {
        self.reason = reason
        self.path = path
    }

    public var description: String {
        switch reason {
        case .pathNotFound: "rule path '\(path)' does not exist"
        case .unreadable: "rule path '\(path)' cannot be read"
        }
    }
}
