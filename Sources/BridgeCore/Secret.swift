/// A secret value: its bytes are only reachable through `bytes`, and every textual form is redacted,
/// so a secret cannot end up in a log line, an error or a response by interpolation.
///
/// Deliberately not `Equatable`: comparing secrets is done in constant time by `Crypto.secretEquals`.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let bytes: [UInt8]

    public init(_ value: String) { self.bytes = Array(value.utf8) }
    public init(bytes: [UInt8]) { self.bytes = bytes }

    public var string: String { String(decoding: bytes, as: UTF8.self) }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}
