/// A value bound to, or read from, a SQLite statement.
package enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    package static func int(_ n: Int) -> SQLiteValue { .integer(Int64(n)) }

    package var integer: Int64? {
        switch self {
        case .integer(let n): n
        case .real(let d) where d.isFinite && abs(d) < 9e18: Int64(d)
        default: nil
        }
    }

    package var real: Double? {
        switch self {
        case .real(let d): d
        case .integer(let n): Double(n)
        default: nil
        }
    }

    package var text: String? {
        if case .text(let s) = self { return s }
        return nil
    }

    package var bytes: [UInt8]? {
        switch self {
        case .blob(let b): b
        case .text(let s): Array(s.utf8)
        default: nil
        }
    }
}
