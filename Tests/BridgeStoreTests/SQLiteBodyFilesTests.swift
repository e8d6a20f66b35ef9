import BridgeStore
import BridgeStoreTestKit
import Foundation
import Logging
import Testing

@testable import BridgeCore
@testable import BridgeStoreSQLite

/// Request bodies are kept in one file per day beside the database, not in its rows: read back by the console,
/// carried across restarts, said to be lost when their bytes are gone, and removed with the last delivery of their
/// day.
@Suite("SQLite store: request bodies in files of their own")
struct SQLiteBodyFilesTests {
    static func webhook(_ key: String, body: String, receivedAt: Date = Date(), events: Int = 0) -> NewDelivery {
        var d = delivery(key: key, events: events)
        d.receivedAt = receivedAt
        d.request = StoredRequest(clientAddress: "192.0.2.1", headers: [("X-Event", "deploy")], body: Array(body.utf8))
        return d
    }

    static func stored(_ result: RecordResult) throws -> Int64 {
        guard case .stored(let id, _, _) = result else { throw StoreError(.unexpectedAnswer, "not stored: \(result)") }
        return id
    }

    static func fileSize(_ path: String) -> Int? {
        try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
    }

    @Test func theBodyIsWrittenToTheDaysFileAndReadBackAcrossARestart() async throws {
        let dir = NSTemporaryDirectory() + "ctb-bodies-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bridge.sqlite"
        let bodiesDir = path + "-bodies"
        let first = #"{"deployment":{"id":1,"environment":"production"}}"#
        let second = #"{"deployment":{"id":2}}"#
        var ids: [Int64] = []
        do {
            let store = try await SQLiteDeliveryStore.open(path: path, logger: Logger(label: "test"))
            let task = Task { try await store.run() }
            let id = try Self.stored(try await store.record(Self.webhook("a", body: first)))
            ids.append(id)
            // Not in the row: the row holds where the body is.
            let row = try await store.perform { db in
                try db.first(
                    "SELECT body, body_day, body_offset, body_length FROM deliveries WHERE id = ?", [.integer(id)])
            }
            #expect(row?[0] == .null)
            #expect(row?[1].integer == Int64(SQLiteBodyFiles.day(of: Date())))
            #expect(row?[2].integer == 0)
            #expect(row?[3].integer == Int64(first.utf8.count))
            task.cancel()
            try await task.value
        }
        let day = SQLiteBodyFiles.day(of: Date())
        #expect(Self.fileSize(bodiesDir + "/\(day)") == first.utf8.count)
        // A new process appends after what is there.
        let store = try await SQLiteDeliveryStore.open(path: path, logger: Logger(label: "test"))
        let task = Task { try await store.run() }
        ids.append(try Self.stored(try await store.record(Self.webhook("b", body: second))))
        #expect(Self.fileSize(bodiesDir + "/\(day)") == first.utf8.count + second.utf8.count)
        let a = try #require(try await store.deliveryDetail(id: ids[0])?.request)
        let b = try #require(try await store.deliveryDetail(id: ids[1])?.request)
        #expect(String(decoding: a.body, as: UTF8.self) == first)
        #expect(String(decoding: b.body, as: UTF8.self) == second)
        #expect(!a.bodyLost && !a.truncated && a.headers.contains(["X-Event", "deploy"]))
        // The command line's read-only store reads them too.
        let reader = try SQLiteDeliveryStore.openReadOnly(path: path, logger: Logger(label: "test"))
        #expect(try await reader.deliveryDetail(id: ids[1])?.request?.body == Array(second.utf8))
        await reader.close()
        task.cancel()
        try await task.value
    }

    @Test func aGroupOfWebhooksWritesEveryBodyAtItsOwnPlace() async throws {
        try await withTemporaryStore { store, _ in
            let bodies = (0..<40).map { i in #"{"n":\#(i),"pad":""# + String(repeating: "x", count: i * 37) + #""}"# }
            let ids = try await withThrowingTaskGroup(of: (Int, Int64).self) { group in
                for (i, body) in bodies.enumerated() {
                    group.addTask { (i, try Self.stored(try await store.record(Self.webhook("k\(i)", body: body)))) }
                }
                var ids = [Int64](repeating: 0, count: bodies.count)
                for try await (i, id) in group { ids[i] = id }
                return ids
            }
            #expect(store.groupCommitStats.largest > 1, "the webhooks shared commits")
            for (i, id) in ids.enumerated() {
                let request = try #require(try await store.deliveryDetail(id: id)?.request)
                #expect(String(decoding: request.body, as: UTF8.self) == bodies[i])
            }
        }
    }

    @Test func aBodyWhoseBytesAreGoneIsSaidToBeLost() async throws {
        try await withTemporaryStore { store, dir in
            let body = String(repeating: "y", count: 5000)
            let kept = try Self.stored(try await store.record(Self.webhook("kept", body: "{}")))
            let id = try Self.stored(try await store.record(Self.webhook("cut", body: body)))
            // The file's end lost, as after a power cut before the kernel wrote it out.
            let file = dir + "/bridge.sqlite-bodies/\(SQLiteBodyFiles.day(of: Date()))"
            #expect(truncate(file, 2 + 100) == 0)
            let lost = try #require(try await store.deliveryDetail(id: id)?.request)
            #expect(lost.bodyLost)
            #expect(lost.body.isEmpty && lost.bodySize == 5000 && !lost.truncated)
            #expect(try await store.deliveryDetail(id: kept)?.request?.body == Array("{}".utf8))
            // The file removed altogether.
            try FileManager.default.removeItem(atPath: file)
            #expect(try await store.deliveryDetail(id: kept)?.request?.bodyLost == true)
            // The next webhook of the day makes the file again.
            let next = try Self.stored(try await store.record(Self.webhook("next", body: "[1]")))
            #expect(try await store.deliveryDetail(id: next)?.request?.body == Array("[1]".utf8))
        }
    }

    @Test func anEmptyBodyAndABodyKeptBeforeStayInTheRow() async throws {
        try await withTemporaryStore { store, _ in
            let empty = try Self.stored(try await store.record(Self.webhook("empty", body: "")))
            let request = try #require(try await store.deliveryDetail(id: empty)?.request)
            #expect(request.body.isEmpty && request.bodySize == 0 && !request.bodyLost)
            // A row written before bodies had files of their own (schema 3) keeps its body in the `body` column.
            let old = try await store.perform { db in
                try db.first(
                    """
                    INSERT INTO deliveries (source, received_at, status, http_status, events, metrics, headers, body,
                      body_size) VALUES ('github', 1700000000, 'accepted', 202, 0, 0, '[]', X'7B7D', 2) RETURNING id
                    """)?.first?.integer
            }
            let oldID = try #require(old)
            let request2 = try #require(try await store.deliveryDetail(id: oldID)?.request)
            #expect(request2.body == Array("{}".utf8) && !request2.bodyLost)
        }
    }

    @Test func pruningRemovesADaysFileWithItsLastDelivery() async throws {
        try await withTemporaryStore { store, dir in
            let now = Date()
            let fourDaysAgo = now.addingTimeInterval(-4 * 86400)
            let threeDaysAgo = now.addingTimeInterval(-3 * 86400)
            _ = try await store.record(Self.webhook("gone", body: "{\"old\":1}", receivedAt: fourDaysAgo))
            // A record still waiting keeps its delivery past the cutoff, and so its body.
            let held = try Self.stored(
                try await store.record(Self.webhook("held", body: "{\"held\":1}", receivedAt: threeDaysAgo, events: 1)))
            let today = try Self.stored(try await store.record(Self.webhook("today", body: "{\"new\":1}")))
            let bodiesDir = dir + "/bridge.sqlite-bodies"
            func days() throws -> Set<String> { Set(try FileManager.default.contentsOfDirectory(atPath: bodiesDir)) }
            let expected = [fourDaysAgo, threeDaysAgo, now].map { String(SQLiteBodyFiles.day(of: $0)) }
            #expect(try days() == Set(expected))
            try await store.prune(olderThan: 86400, now: now)
            #expect(try days() == Set(expected.dropFirst()))
            #expect(try await store.deliveryDetail(id: held)?.request?.body == Array("{\"held\":1}".utf8))
            #expect(try await store.deliveryDetail(id: today)?.request?.body == Array("{\"new\":1}".utf8))
            // Once the held record is sent and old enough, its day goes too.
            let items = try await store.claimDue(now: now.addingTimeInterval(1), limit: 10, lease: 60)
            try await store.markSent(items.map(\.id), now: now.addingTimeInterval(-2 * 86400))
            try await store.prune(olderThan: 86400, now: now)
            #expect(try days() == [String(SQLiteBodyFiles.day(of: now))])
            #expect(try await store.deliveryDetail(id: held) == nil)
        }
    }
}
