import BridgeStore
import Foundation

extension SQLiteDeliveryStore: SourceHistoryStore {
    public func firstReceived(source: String) async throws -> Date? {
        try await perform { db in
            try db.first(
                "SELECT \(Self.deliveryColumns) FROM deliveries WHERE source = ? ORDER BY received_at ASC LIMIT 1",
                [.text(source)]
            ).flatMap(SQLiteDeliveryStore.summary)?.receivedAt
        }
    }
}
