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

    /// Binds `values` and runs `body` with the bound statement. Texts and blobs are bound in place
    /// (`SQLITE_STATIC`): each value's bytes are bound inside the scope that keeps them where they are, `body` runs
    /// in the innermost of those scopes, and the bindings are cleared before any scope ends, so SQLite never holds
    /// a pointer past its buffer. Binding with `SQLITE_TRANSIENT` made SQLite copy every text and blob of every
    /// statement (a 9 KB body, its explanation and headers: about 60 allocations per webhook).
    private func withBindings<R>(
        _ values: [SQLiteValue], _ body: (OpaquePointer) throws(StoreError) -> R
    ) throws(StoreError) -> R {
        guard let handle else { throw StoreError(.closed, "the statement is finalized") }
        sqlite3_reset(handle)
        do {
            return try bind(values, from: 0, handle, body)
        } catch {
            // A value that could not be bound: the ones bound before it are cleared here (after `body`, the
            // innermost scope has cleared them already).
            sqlite3_clear_bindings(handle)
            throw error
        }
    }

    private func bind<R>(
        _ values: [SQLiteValue], from offset: Int, _ handle: OpaquePointer,
        _ body: (OpaquePointer) throws(StoreError) -> R
    ) throws(StoreError) -> R {
        if offset == values.count {
            defer {
                sqlite3_reset(handle)
                sqlite3_clear_bindings(handle)
            }
            return try body(handle)
        }
        let index = Int32(offset + 1)
        let rc: Int32
        switch values[offset] {
        case .null: rc = sqlite3_bind_null(handle, index)
        case .integer(let n): rc = sqlite3_bind_int64(handle, index, n)
        case .real(let d): rc = sqlite3_bind_double(handle, index, d)
        case .text(let s):
            var s = s
            let result = s.withUTF8 { buffer -> Result<R, StoreError> in
                let rc = sqlite3_bind_text(
                    handle, index, buffer.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) },
                    Int32(buffer.count), nil)
                if rc != SQLITE_OK { return .failure(error(rc, "cannot bind a value")) }
                return Result { () throws(StoreError) -> R in try bind(values, from: offset + 1, handle, body) }
            }
            return try result.get()
        case .blob(let b):
            let result = b.withUnsafeBytes { buffer -> Result<R, StoreError> in
                let rc = sqlite3_bind_blob(handle, index, buffer.baseAddress, Int32(buffer.count), nil)
                if rc != SQLITE_OK { return .failure(error(rc, "cannot bind a value")) }
                return Result { () throws(StoreError) -> R in try bind(values, from: offset + 1, handle, body) }
            }
            return try result.get()
        }
        if rc != SQLITE_OK { throw error(rc, "cannot bind a value") }
        return try bind(values, from: offset + 1, handle, body)
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
        try withBindings(values) { handle throws(StoreError) in
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
    }

    /// Runs the statement with `values`, returning the first row.
    func first(_ values: [SQLiteValue]) throws(StoreError) -> [SQLiteValue]? {
        try withBindings(values) { handle throws(StoreError) in
            let rc = sqlite3_step(handle)
            if rc == SQLITE_ROW { return row(handle) }
            if rc == SQLITE_DONE { return nil }
            throw error(rc, "statement failed")
        }
    }
}
