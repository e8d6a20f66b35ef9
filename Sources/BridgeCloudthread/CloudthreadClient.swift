import BridgeCore
import Foundation

/// Cloudthread's API as the forwarder uses it.
public protocol CloudthreadClient: Sendable {
    func postEvents(_ request: EventsRequest) async -> CloudthreadOutcome
    func ingest(_ request: IngestRequest) async -> CloudthreadOutcome
    /// The organisation's teams; on failure, the outcome that explains it.
    func teams() async -> Result<[CloudthreadTeam], CloudthreadClientError>
    /// `GET path?query` (the cost endpoints of cost follow-ups): how it was answered, and the body of a 2xx.
    func get(path: String, query: [(String, String)]) async -> (outcome: CloudthreadOutcome, body: [UInt8])
}
