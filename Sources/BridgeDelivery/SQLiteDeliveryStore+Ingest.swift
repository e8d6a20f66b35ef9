import BridgeCloudthread
import BridgeCore
import BridgeVerification
import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import ServiceLifecycle
import Synchronization

/// Recording one webhook: its delivery, outbox records, aggregate updates and dedupe keys.
extension SQLiteDeliveryStore {
    public func record(_ delivery: NewDelivery) async throws -> RecordResult {
        try await withCheckedThrowingContinuation { continuation in
            if !enqueue(.record(delivery, continuation)) {
                continuation.resume(throwing: StoreError(.closed, "the store is closed"))
            }
        }
    }

    func commit(_ batch: [(NewDelivery, CheckedContinuation<RecordResult, any Error>)]) async {
        var results: [Result<RecordResult, any Error>] = []
        do {
            _ = try await connection.query("BEGIN IMMEDIATE")
        } catch {
            for (_, c) in batch { c.resume(throwing: error) }
            return
        }
        for (index, (delivery, _)) in batch.enumerated() {
            do {
                _ = try await connection.query("SAVEPOINT d\(index)")
                let result = try await insert(delivery)
                _ = try await connection.query("RELEASE d\(index)")
                results.append(.success(result))
            } catch {
                _ = try? await connection.query("ROLLBACK TO d\(index)")
                _ = try? await connection.query("RELEASE d\(index)")
                results.append(.failure(error))
            }
        }
        do {
            _ = try await connection.query("COMMIT")
        } catch {
            _ = try? await connection.query("ROLLBACK")
            logger.error("store commit failed", metadata: ["error": "\(error)"])
            for (_, c) in batch { c.resume(throwing: error) }
            return
        }
        commitStats.withLock {
            $0.commits += 1
            $0.records += batch.count
            $0.largest = max($0.largest, batch.count)
        }
        for ((_, continuation), result) in zip(batch, results) { continuation.resume(with: result) }
    }

    func insert(_ d: NewDelivery) async throws -> RecordResult {
        let now = d.receivedAt.timeIntervalSince1970
        if let key = d.deliveryKey {
            let rows = try await connection.query(
                "SELECT delivery_id FROM dedupe WHERE source = ? AND key = ?", [.text(d.source), .text(key)])
            if let existing = rows.first?.column("delivery_id")?.integer {
                return .duplicate(originalDeliveryId: Int64(existing))
            }
        }
        // Per-item keys (a rule's dedupe_key): outputs of items seen before are left out.
        var events = d.events
        var metrics = d.metrics
        var firstSeen: Int64?
        var itemKeys = Set(events.compactMap(\.dedupeKey) + metrics.compactMap(\.dedupeKey))
        if !itemKeys.isEmpty {
            for key in itemKeys {
                let rows = try await connection.query(
                    "SELECT delivery_id FROM dedupe WHERE source = ? AND key = ?",
                    [.text(d.source), .text("item:" + key)])
                if let existing = rows.first?.column("delivery_id")?.integer {
                    itemKeys.remove(key)
                    firstSeen = firstSeen ?? Int64(existing)
                }
            }
            events.removeAll { $0.dedupeKey.map { !itemKeys.contains($0) } ?? false }
            metrics.removeAll { $0.dedupeKey.map { !itemKeys.contains($0) } ?? false }
            if events.isEmpty, metrics.isEmpty, let firstSeen { return .duplicate(originalDeliveryId: firstSeen) }
        }
        let explanation = String(decoding: CloudthreadJSON.encode(d.explanation), as: UTF8.self)
        let rows = try await connection.query(
            "INSERT INTO deliveries (source, delivery_key, received_at, status, http_status, events, metrics, explanation) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [
                .text(d.source), d.deliveryKey.map(SQLiteData.text) ?? .null, .float(now), .text(d.status.rawValue),
                .integer(d.httpStatus), .integer(events.count), .integer(metrics.count), .text(explanation),
            ])
        guard let id = rows.first?.column("id")?.integer else {
            throw StoreError(.unexpectedAnswer, "insert into deliveries returned no id")
        }
        if let key = d.deliveryKey {
            _ = try await connection.query(
                "INSERT INTO dedupe (source, key, delivery_id, created_at) VALUES (?, ?, ?, ?)",
                [.text(d.source), .text(key), .integer(id), .float(now)])
        }
        for key in itemKeys {
            _ = try await connection.query(
                "INSERT INTO dedupe (source, key, delivery_id, created_at) VALUES (?, ?, ?, ?)",
                [.text(d.source), .text("item:" + key), .integer(id), .float(now)])
        }
        for event in events {
            let json = String(decoding: CloudthreadJSON.encode(event), as: UTF8.self)
            _ = try await connection.query(
                "INSERT INTO outbox (kind, delivery_id, record, state, due_at, created_at, updated_at) VALUES ('event', ?, ?, 'pending', ?, ?, ?)",
                [.integer(id), .text(json), .float(now), .float(now), .float(now)])
        }
        for m in metrics {
            let key = SQLiteDeliveryStore.aggregateKey(m)
            let dims = String(decoding: CloudthreadJSON.encode(m.dimensions), as: UTF8.self)
            _ = try await connection.query(
                """
                INSERT INTO aggregates (key, stream_token, metric, aggregation, dimensions, hour, sum, count, min, max, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
                ON CONFLICT(key) DO UPDATE SET sum = sum + excluded.sum, count = count + 1,
                  min = MIN(min, excluded.min), max = MAX(max, excluded.max), updated_at = excluded.updated_at
                """,
                [
                    .text(key), .text(m.streamToken), .text(m.name), .text(m.aggregation.rawValue), .text(dims),
                    .text(m.hour), .float(m.value), .float(m.value), .float(m.value), .float(now),
                ])
            _ = try await connection.query(
                """
                INSERT INTO outbox (kind, delivery_id, agg_key, state, due_at, created_at, updated_at) VALUES ('metric', ?, ?, 'pending', ?, ?, ?)
                ON CONFLICT(agg_key) WHERE state = 'pending' AND agg_key IS NOT NULL DO NOTHING
                """,
                [.integer(id), .text(key), .float(now), .float(now), .float(now)])
        }
        return .stored(deliveryId: Int64(id), events: events.count, metrics: metrics.count)
    }

    /// The aggregate key: stream (by a fingerprint, so the token is not repeated), metric, aggregation,
    /// sorted dimensions and hour.
    static func aggregateKey(_ m: MetricObservation) -> String {
        let fingerprint = ByteEncoding.hex(Array(Crypto.sha256(Array(m.streamToken.utf8)).prefix(8)))
        let dims = m.dimensions.keys.sorted().map { "\(JSONValue.quote($0)):\(JSONValue.quote(m.dimensions[$0]!))" }
            .joined(separator: ",")
        return "\(fingerprint)|\(m.name)|\(m.aggregation.rawValue)|{\(dims)}|\(m.hour)"
    }
}
