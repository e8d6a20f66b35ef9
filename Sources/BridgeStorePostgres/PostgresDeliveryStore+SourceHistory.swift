import BridgeStore
import Foundation
import PostgresNIO

extension PostgresDeliveryStore: SourceHistoryStore {
    public func firstReceived(source: String) async throws -> Date? {
        try await perform("find a source's first delivery") { [logger] client in
            try await Self.summaries(
                try await client.query(
                    """
                    SELECT \(unescaped: Self.deliveryColumns) FROM deliveries WHERE source = \(source)
                    ORDER BY received_at ASC LIMIT 1
                    """, logger: logger)
            ).first?.receivedAt
        }
    }
}
