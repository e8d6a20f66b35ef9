import AsyncHTTPClient
import BridgeCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Dry run: nothing leaves the machine; each request that would be sent is logged as its exact JSON and
/// kept (the last 100) for the admin API.
public final class DryRunCloudthreadClient: CloudthreadClient, @unchecked Sendable {
    let logger: Logger
    private let lock = NSLock()
    private var recent: [(path: String, body: String)] = []

    public init(logger: Logger) { self.logger = logger }

    public var sent: [(path: String, body: String)] {
        lock.lock()
        defer { lock.unlock() }
        return recent
    }

    func record(_ path: String, _ body: [UInt8]) {
        let text = String(decoding: body, as: UTF8.self)
        logger.info(
            "dry run: would send POST \(path)",
            metadata: ["cloudthread.path": .string(path), "cloudthread.body": .string(text)])
        lock.lock()
        recent.append((path, text))
        if recent.count > 100 { recent.removeFirst(recent.count - 100) }
        lock.unlock()
    }

    public func postEvents(_ request: EventsRequest) async -> CloudthreadOutcome {
        record("/events", request.jsonBytes)
        return .accepted
    }

    public func ingest(_ request: IngestRequest) async -> CloudthreadOutcome {
        var shown = request
        shown.dataStreamToken = "<redacted>"
        record("/streams/ingest", shown.jsonBytes)
        return .accepted
    }

    public func teams() async -> Result<[CloudthreadTeam], CloudthreadClientError> { .success([]) }

    /// Nothing is read from Cloudthread in a dry run: the forwarder does not run cost follow-ups without a key.
    public func get(path: String, query: [(String, String)]) async -> (outcome: CloudthreadOutcome, body: [UInt8]) {
        (.retry(reason: "dry run: nothing is read from Cloudthread", retryAfter: nil), [])
    }
}
