import BridgeCore
import BridgeStore
import BridgeStorePostgres
import BridgeStoreSQLite
import Foundation
import Logging

/// The stores every store contract test runs against: SQLite always, PostgreSQL when `TestPostgres` has a
/// database (found or started); each PostgreSQL test gets its own schema.
public enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres

    public var description: String { rawValue }

    /// SQLite, and PostgreSQL when it is available (why it is not is printed once).
    public static var available: [StoreKind] { TestPostgres.isAvailable ? allCases : [.sqlite] }
}

/// A PostgreSQL URL on a fresh schema of the test database; nil when there is none.
public func postgresTestURL(
    schema: String = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "_")
) -> PostgresDatabaseURL? {
    guard let base = TestPostgres.url else { return nil }
    return PostgresDatabaseURL(base + (base.contains("?") ? "&" : "?") + "schema=" + schema)
}

/// An SQLite store in a temporary directory, running, removed afterwards.
public func withTemporaryStore(_ body: (SQLiteDeliveryStore, String) async throws -> Void) async throws {
    let dir = NSTemporaryDirectory() + "ctb-store-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = try await SQLiteDeliveryStore.open(path: dir + "/bridge.sqlite", logger: Logger(label: "test"))
    let task = Task { try await store.run() }
    try await body(store, dir)
    task.cancel()
    try await task.value
}

public func observation(_ value: Double, hour: String = "2024-05-01 14:00:00", agg: Aggregation = .sum)
    -> MetricObservation
{
    MetricObservation(
        streamToken: Secret("tok"), name: "m", aggregation: agg, value: value, dimensions: ["service": "api"],
        hour: hour, rule: "r")
}

public func delivery(key: String? = nil, metrics: [MetricObservation] = [], events: Int = 0) -> NewDelivery {
    let e = (0..<events).map {
        EventRecord(
            timestamp: "2024-05-01 14:00:00", team: nil, type: "deploy", description: "d\($0)", url: nil, rule: "r")
    }
    return NewDelivery(
        source: "s", deliveryKey: key, receivedAt: Date(), status: .accepted, events: e, metrics: metrics,
        explanation: Explanation(source: "s"))
}
