/// Why the store could not do what was asked. The ingress answers 503 with Retry-After for any of them, so the
/// sender retries; nothing is acknowledged that is not committed.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// The store was shut down.
        case closed
        /// The disk (or the database's quota) is full.
        case full
        /// The database file could not be read or written (I/O error, missing directory, permissions).
        case io
        /// The database is locked by another process for longer than the busy timeout.
        case busy
        /// Another database error.
        case database
        /// The database answered something the store did not expect.
        case unexpectedAnswer = "unexpected_answer"
        /// The connection to the database server is lost or refused (PostgreSQL).
        case unavailable
    }

    public let reason: Reason
    /// What happened, naming the operation; never a secret or a payload value.
    public let detail: String
    /// The database's own error code, when there is one.
    public let code: Int32?

    public init(_ reason: Reason, _ detail: String, code: Int32? = nil) {
        self.code = code
        self.detail = detail
        // SQLite primary result codes (the low byte of an extended code): FULL 13, IOERR 10, BUSY 5, LOCKED 6,
        // CANTOPEN 14, READONLY 8, NOMEM 7.
        if reason == .database, let code {
            switch code & 0xff {
            case 13: self.reason = .full
            case 10, 14, 8: self.reason = .io
            case 5, 6: self.reason = .busy
            default: self.reason = .database
            }
        } else {
            self.reason = reason
        }
    }

    public var description: String { detail }
}
