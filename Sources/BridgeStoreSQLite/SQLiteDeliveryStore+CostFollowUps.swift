import BridgeCore
import BridgeStore
import Foundation

/// Cost follow-ups (docs/cost-impact.md): they are outbox records of kind `cost_followup`, due when their after
/// window has settled; finishing one adds what it found in the same transaction that marks it sent.
extension SQLiteDeliveryStore {
    public func completeFollowUp(_ id: Int64, _ completion: CostFollowUpCompletion, now: Date) async throws -> Bool {
        try await transaction { db in
            let t = now.timeIntervalSince1970
            guard
                let row = try db.first(
                    "SELECT delivery_id FROM outbox WHERE id = ? AND kind = \(OutboxKind.costFollowUp.sql) AND state = \(OutboxState.inflight.sql)",
                    [.integer(id)])
            else { return false }
            let deliveryID = row.first?.integer
            let owner: SQLiteValue = deliveryID.map(SQLiteValue.integer) ?? .null
            if let event = completion.event {
                try db.query(
                    """
                    INSERT INTO outbox (kind, delivery_id, record, state, due_at, created_at, updated_at)
                    VALUES (\(OutboxKind.event.sql), ?, ?, \(OutboxState.pending.sql), ?, ?, ?)
                    """, [owner, .text(event.storedJSON), .real(t), .real(t), .real(t)])
            }
            if let metric = completion.metric, let deliveryID {
                try SQLiteDeliveryStore.insertObservation(metric, deliveryID: deliveryID, now: t, db)
            }
            if let deliveryID,
                let text = try db.first("SELECT explanation FROM deliveries WHERE id = ?", [.integer(deliveryID)])?
                    .first?.text
            {
                var explanation =
                    (try? JSONDecoder().decode(Explanation.self, from: Data(text.utf8)))
                    ?? Explanation(source: "")
                explanation.notes.append(completion.note)
                try db.query(
                    "UPDATE deliveries SET explanation = ? WHERE id = ?",
                    [.text(explanation.storedJSON), .integer(deliveryID)])
            }
            try db.query(
                """
                UPDATE outbox SET state = \(OutboxState.sent.sql), attempts = attempts + 1, last_error = NULL, claimed_until = NULL,
                  updated_at = ? WHERE id = ?
                """, [.real(t), .integer(id)])
            return true
        }
    }
}
