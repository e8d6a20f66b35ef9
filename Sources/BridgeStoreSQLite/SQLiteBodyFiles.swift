import BridgeStore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The request bodies the console shows, kept beside the database instead of in it: one append-only file per UTC
/// day in `<database>-bodies/`, named by the day's number since 1970, and a delivery's row holds the day, the
/// offset and the length of its body.
///
/// In the database, a 9 KB body was written three times (into the WAL at COMMIT, two system calls per page, then
/// read back and written into the database file at the checkpoint) and was most of what each webhook wrote. Here it
/// is written once: the bodies of a group are gathered while the group runs and written with one `pwrite` per day
/// before its COMMIT, so a committed row never points past what was written. The files are not synced: after a
/// crash of the process the bytes are in the kernel's page cache and nothing is lost, after a power cut the last
/// bodies written may be missing, and the console says so (`StoredRequest.bodyLost`); the delivery, its outcome and
/// its records are in the database and do not depend on them. Bytes of a group that was rolled back stay in the
/// file unreferenced until the day's file is removed.
///
/// Used only by the writer thread (every method); `read` opens the file itself and can be called from anywhere.
final class SQLiteBodyFiles: @unchecked Sendable {
    let directory: String
    /// A class, so that changing it in place does not copy the dictionary's storage or the pending bytes.
    private final class DayFile {
        let descriptor: Int32
        /// The file's size when the group's first body for it came, plus what was written since.
        var written: Int
        /// Appended by the group in progress, written by `flush`; its capacity is kept from group to group, up to
        /// `keptCapacity`.
        var pending: [UInt8] = []

        init(descriptor: Int32, written: Int) {
            self.descriptor = descriptor
            self.written = written
        }
    }
    private var files: [Int: DayFile] = [:]
    /// The most of a day's buffer kept between groups (a group of a hundred 9 KB bodies is 0.9 MB).
    static let keptCapacity = 1 << 20

    /// The directory beside the database at `databasePath`.
    static func directory(for databasePath: String) -> String { databasePath + "-bodies" }

    init(databasePath: String) throws {
        directory = SQLiteBodyFiles.directory(for: databasePath)
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw StoreError(.io, "cannot create the directory for request bodies \(directory): \(Self.reason(errno))")
        }
    }

    deinit {
        for file in files.values { _ = close(file.descriptor) }
    }

    /// The day a body received at `date` is kept under: whole days since 1970, UTC.
    static func day(of date: Date) -> Int { Int((date.timeIntervalSince1970 / 86400).rounded(.down)) }

    static func path(_ directory: String, day: Int) -> String { directory + "/" + String(day) }

    /// Queues `bytes` for the day's file and returns the offset they will have.
    func append(_ bytes: [UInt8], day: Int) throws -> Int {
        if let file = files[day], file.pending.isEmpty {
            // The group's first body of the day: the file as it is now (one `fstat` per group). Removed or cut
            // short from outside, it is made again, or written at its true end.
            var status = stat()
            if fstat(file.descriptor, &status) != 0 || status.st_nlink == 0 {
                files[day] = nil
                _ = close(file.descriptor)
            } else {
                file.written = Int(status.st_size)
            }
        }
        let file = try files[day] ?? openDay(day)
        let offset = file.written + file.pending.count
        file.pending.append(contentsOf: bytes)
        return offset
    }

    /// Writes what the group appended. On a failure nothing of it counts as written (the rows that point at it
    /// are rolled back), and the next group writes at the file's true end.
    func flush() throws {
        for (day, file) in files where !file.pending.isEmpty {
            let result = file.pending.withUnsafeBytes { buffer in
                Self.writeAll(file.descriptor, buffer, at: file.written)
            }
            if let code = result {
                file.pending.removeAll(keepingCapacity: false)
                var status = stat()
                if fstat(file.descriptor, &status) == 0 { file.written = Int(status.st_size) }
                throw StoreError(
                    code == ENOSPC ? .full : .io,
                    "cannot write request bodies to \(Self.path(directory, day: day)): \(Self.reason(code))")
            }
            file.written += file.pending.count
            // A group of large bodies (up to 64 KiB each) does not keep its buffer for every group after it.
            file.pending.removeAll(keepingCapacity: file.pending.capacity <= Self.keptCapacity)
        }
    }

    /// Forgets what the group appended (the group was rolled back).
    func discard() {
        for file in files.values { file.pending.removeAll(keepingCapacity: file.pending.capacity <= Self.keptCapacity) }
    }

    /// Removes the files of days before `day` on which no delivery is left (`stillUsed`), closing them first.
    func removeDays(before day: Int, stillUsed: (Int) throws -> Bool) throws -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var removed = 0
        for name in names {
            guard let old = Int(name), old < day, try !stillUsed(old) else { continue }
            if let file = files.removeValue(forKey: old) { _ = close(file.descriptor) }
            if unlink(Self.path(directory, day: old)) == 0 { removed += 1 }
        }
        return removed
    }

    /// The `length` bytes at `offset` of the day's file, or nil when they are not all there (the file removed, or
    /// its end lost in a power cut).
    static func read(_ directory: String, day: Int, offset: Int, length: Int) -> [UInt8]? {
        // The row says how much to read: never more than a kept body can be (`StoredRequest.bodyLimit`).
        guard offset >= 0, length >= 0, length <= StoredRequest.bodyLimit else { return nil }
        let descriptor = Glibc.open(path(directory, day: day), O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { _ = close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let n = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, length - done, off_t(offset + done))
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            done += n
        }
        return bytes
    }

    private func openDay(_ day: Int) throws -> DayFile {
        let path = Self.path(directory, day: day)
        var descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        if descriptor < 0 && errno == ENOENT && mkdir(directory, 0o700) == 0 {
            // The directory was removed from outside: made again, as at start-up.
            descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        }
        guard descriptor >= 0 else {
            throw StoreError(.io, "cannot open the request bodies' file \(path): \(Self.reason(errno))")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = Self.reason(errno)
            _ = close(descriptor)
            throw StoreError(.io, "cannot read the size of the request bodies' file \(path): \(reason)")
        }
        // Webhooks of one group are received within moments of each other: two days are open around midnight.
        for (old, file) in files where old < day - 1 && file.pending.isEmpty {
            files[old] = nil
            _ = close(file.descriptor)
        }
        let file = DayFile(descriptor: descriptor, written: Int(status.st_size))
        files[day] = file
        return file
    }

    /// Nil when every byte was written, else the error number.
    private static func writeAll(_ descriptor: Int32, _ buffer: UnsafeRawBufferPointer, at offset: Int) -> Int32? {
        var done = 0
        while done < buffer.count {
            let n = pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return errno }
            if n == 0 { return EIO }
            done += n
        }
        return nil
    }

    private static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
}
