import BridgeStore
import BridgeStoreTestKit
import Foundation
import Testing

@testable import BridgeCore

@Suite("SourceHistoryStore (SQLite and PostgreSQL)")
struct SourceHistoryStoreTests {
    static func received(_ source: String, _ key: String, at: Date) -> NewDelivery {
        NewDelivery(
            source: source, deliveryKey: key, receivedAt: at, status: .ignored, explanation: Explanation(source: source)
        )
    }

    @Test(arguments: StoreKind.available) func theFirstReceivedDeliveryOfASource(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let history = try #require(store as? any SourceHistoryStore)
            #expect(try await history.firstReceived(source: "github") == nil)
            let now = Date()
            // Stored out of time order: the oldest by time, not by id, is the answer.
            _ = try await store.record(Self.received("github", "b", at: now.addingTimeInterval(-3600)))
            _ = try await store.record(Self.received("github", "a", at: now.addingTimeInterval(-40 * 86400)))
            _ = try await store.record(Self.received("gitlab", "c", at: now.addingTimeInterval(-90 * 86400)))
            let first = try #require(try await history.firstReceived(source: "github"))
            #expect(abs(first.timeIntervalSince(now.addingTimeInterval(-40 * 86400))) < 0.01)
            #expect(try await history.firstReceived(source: "other") == nil)
        }
    }
}
