import BridgeStore
import CSQLite3

/// A prepared statement. Each use binds its values, steps through the rows and resets, so it can be reused.
package final class SQLiteStatement {
    private var handle: OpaquePointer?
    private let database: OpaquePointer

    init(_ handle: OpaquePointer, database: OpaquePointer) {
        self.handle = handle
        self.database = database
    }

    func finalize() {
        if let handle { sqlite3_finalize(handle) }
        handle = nil
    }

    private func bind(_ values: [SQLiteValue]) throws(StoreError) {
        guard let handle else { throw StoreError(.closed, "the statement is finalized") }
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(handle, index)
            case .integer(let n): rc = sqlite3_bind_int64(handle, index, n)
            case .real(let d): rc = sqlite3_bind_double(handle, index, d)
            case .text(let s):
                var s = s
                rc = s.withUTF8 { buffer in
                    sqlite3_bind_text(
                        handle, index,
                        buffer.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) },
                        Int32(buffer.count), csqlite3_transient())
                }
            case .blob(let b):
                rc = b.withUnsafeBytes { buffer in
                    sqlite3_bind_blob(handle, index, buffer.baseAddress, Int32(buffer.count), csqlite3_transient())
                }
            }
            if rc != SQLITE_OK { throw error(rc, "cannot bind a value") }
        }
    }

    private func error(_ rc: Int32, _ what: String) -> StoreError {
        StoreError(.database, "\(what): \(String(cString: sqlite3_errmsg(database)))", code: rc)
    }

    private func row(_ handle: OpaquePointer) -> [SQLiteValue] {
        let count = sqlite3_column_count(handle)
        var row: [SQLiteValue] = []
        row.reserveCapacity(Int(count))
        for column in 0..<count {
            switch sqlite3_column_type(handle, column) {
            case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(handle, column)))
            case SQLITE_FLOAT: row.append(.real(sqlite3_column_double(handle, column)))
            case SQLITE_BLOB:
                let length = Int(sqlite3_column_bytes(handle, column))
                if let bytes = sqlite3_column_blob(handle, column) {
                    row.append(.blob(Array(UnsafeRawBufferPointer(start: bytes, count: length))))
                } else {
                    row.append(.blob([]))
                }
            case SQLITE_TEXT:
                let length = Int(sqlite3_column_bytes(handle, column))
                if let bytes = sqlite3_column_blob(handle, column) {
                    let buffer = UnsafeRawBufferPointer(start: bytes, count: length)
                    row.append(.text(String(decoding: buffer, as: UTF8.self)))
                } else {
                    row.append(.text(""))
                }
            default: row.append(.null)
            }
        }
        return row
    }

    /// Runs the statement with `values`, returning all rows.
    func run(_ values: [SQLiteValue]) throws(StoreError) -> [[SQLiteValue]] {
        try bind(values)
        guard let handle else { throw StoreError(.closed, "the statement is finalized") }
        defer { sqlite3_reset(handle) }
        var rows: [[SQLiteValue]] = []
        while true {
            let rc = sqlite3_step(handle)
            if rc == SQLITE_ROW {
                rows.append(row(handle))
            } else if rc == SQLITE_DONE {
                return rows
            } else {
                throw error(rc, "statement failed")
            }
        }
    }

    /// Runs the statement with `values`, returning the first row.
    func first(_ values: [SQLiteValue]) throws(StoreError) -> [SQLiteValue]? {
        try bind(values)
        guard let handle else { throw StoreError(.closed, "the statement is finalized") }
        defer { sqlite3_reset(handle) }
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return row(handle) }
        if rc == SQLITE_DONE { return nil }
        throw error(rc, "statement failed")
    }
}
