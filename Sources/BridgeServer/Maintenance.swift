import AsyncHTTPClient
import BridgeCloudthread
import BridgeCore
import BridgeDelivery
import BridgeMapping
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Prunes old records hourly.
struct Maintenance: Service {
    let store: SQLiteDeliveryStore
    let retention: TimeInterval
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await store.prune(olderThan: retention, now: Date())
            } catch {
                logger.warning("pruning old records failed", metadata: ["error": "\(error)"])
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
