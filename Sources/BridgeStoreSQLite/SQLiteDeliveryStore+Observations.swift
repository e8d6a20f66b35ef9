import BridgeCore
import BridgeStore

/// A group's metric observations, added up per aggregate key while its webhooks are inserted and applied once per
/// key before the COMMIT: one upsert of the hour's aggregate and one insert of its pending send per key and group,
/// where each webhook made one of each (a burst of deploys of one service in one hour is one key). The PostgreSQL
/// store sums a group the same way (`BulkStore`).
///
/// The sums are those one webhook at a time would have made, up to the order in which floating-point values are
/// added. The pending send keeps what the first observation would have given it: its delivery and its due time.
struct GroupObservations {
    private struct Sum {
        let streamRef: String
        let metric: String
        let aggregation: String
        let dimensions: String
        let hour: String
        var sum: Double
        var count: Int
        var min: Double
        var max: Double
        /// The delivery and time of the key's first observation in the group: its pending send's.
        let deliveryID: Int64
        let first: Double
        /// The time of the key's last observation: the aggregate's `updated_at`.
        var last: Double
    }

    private var sums: [String: Sum] = [:]
    /// Keys in the order first seen, so that the sends are numbered as their webhooks came.
    private var order: [String] = []

    var isEmpty: Bool { order.isEmpty }

    mutating func add(_ m: MetricObservation, deliveryID: Int64, now: Double) {
        let ref = StreamTokenRef.fingerprint(m.streamToken)
        let key = AggregateKey.of(m, streamRef: ref)
        if var s = sums[key] {
            s.sum += m.value
            s.count += 1
            s.min = Swift.min(s.min, m.value)
            s.max = Swift.max(s.max, m.value)
            s.last = now
            sums[key] = s
            return
        }
        sums[key] = Sum(
            streamRef: ref, metric: m.name, aggregation: m.aggregation.rawValue, dimensions: m.dimensions.storedJSON,
            hour: m.hour, sum: m.value, count: 1, min: m.value, max: m.value, deliveryID: deliveryID, first: now,
            last: now)
        order.append(key)
    }

    mutating func removeAll() {
        sums.removeAll(keepingCapacity: true)
        order.removeAll(keepingCapacity: true)
    }

    /// Adds each key's sums to its aggregate and makes the key due (one pending send per key: a send already
    /// pending for it takes the new sums when it is claimed).
    func apply(_ db: SQLiteDatabase) throws {
        for key in order {
            guard let s = sums[key] else { continue }
            try db.query(
                Self.upsertSQL,
                [
                    .text(key), .text(s.streamRef), .text(s.metric), .text(s.aggregation), .text(s.dimensions),
                    .text(s.hour), .real(s.sum), .int(s.count), .real(s.min), .real(s.max), .real(s.last),
                ])
            try db.query(
                SQLiteDeliveryStore.insertMetricSQL,
                [.integer(s.deliveryID), .text(key), .real(s.first), .real(s.first), .real(s.first)])
        }
    }

    static let upsertSQL = """
        INSERT INTO aggregates (key, stream_ref, metric, aggregation, dimensions, hour, sum, count, min, max,
          updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(key) DO UPDATE SET sum = sum + excluded.sum, count = count + excluded.count,
          min = MIN(min, excluded.min), max = MAX(max, excluded.max), updated_at = excluded.updated_at
        """
}
