// JSONParseError.swift — the error of `JSONValue.parse` (JSONParser.swift).
// Drop-in replacement for Sources/BridgeCore/JSON/JSONParseError.swift (keeps `message` and `description`).

/// Why and where `JSONValue.parse` refused its input.
public struct JSONParseError: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable, Hashable {
        /// No value: the input is empty, or only whitespace / a BOM.
        case empty
        /// The input ended inside a value.
        case unexpectedEnd
        /// A byte that cannot appear here.
        case unexpectedByte(UInt8)
        /// `,` directly before `]` or `}`.
        case trailingComma
        /// Malformed number literal (leading zero, `+1`, `.5`, `1.`, `1e`, `-`).
        case invalidNumber
        /// Number literal overflows a `Double` (e.g. `1e400`).
        case numberOutOfRange
        /// Backslash followed by something other than `" \ / b f n r t u`.
        case invalidEscape
        /// `\u` not followed by four hex digits.
        case invalidUnicodeEscape
        /// A `\uD800`–`\uDFFF` escape that is not part of a high+low surrogate pair.
        case loneSurrogate
        /// Invalid UTF-8 inside a string.
        case invalidUTF8
        /// A raw byte < 0x20 inside a string.
        case controlCharacterInString
        /// The same key twice in one object (the key, possibly long; the description truncates it).
        case duplicateKey(String)
        /// Nesting deeper than the limit (the limit).
        case tooDeep(Int)
        /// Non-whitespace after the top-level value.
        case trailingContent
    }

    public let reason: Reason
    /// Byte offset in the input (counting a leading BOM, if any).
    public let offset: Int
    /// 1-based line (lines end at LF).
    public let line: Int
    /// 1-based column, counted in Unicode scalars (UTF-8 lead bytes) from the start of the line.
    public let column: Int
    /// Human-readable explanation; quotes at most ~40 bytes of the input, non-printables escaped.
    public let message: String

    public init(reason: Reason, offset: Int, line: Int, column: Int, message: String) {
        self.reason = reason
        self.offset = offset
        self.line = line
        self.column = column
        self.message = message
    }

    /// e.g. `line 3, column 7 (byte 41): expected ',' or '}' after an object member, found ']'`
    public var description: String {
        "line \(line), column \(column) (byte \(offset)): \(message)"
    }
}
