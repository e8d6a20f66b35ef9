import AsyncHTTPClient
import BridgeCloudthread
import BridgeCore
import BridgeDelivery
import BridgeMapping
import BridgeStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Prunes old records hourly; while the store cannot write (a full disk, an I/O error), probes it every few
/// seconds so readiness and the ingress recover by themselves when it can write again.
struct Maintenance: Service {
    let store: any HealthStore & RetentionStore
    let retention: TimeInterval
    let logger: Logger
    var pruneInterval: TimeInterval = 3600
    var probeInterval: Duration = .seconds(5)

    func run() async throws {
        var lastPrune = Date.distantPast
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if await !store.isWritable() {
                await store.probeWrite(now: Date())
                if await store.isWritable() { logger.notice("the store can write again") }
            }
            if Date().timeIntervalSince(lastPrune) >= pruneInterval {
                lastPrune = Date()
                do {
                    try await store.prune(olderThan: retention, now: Date())
                } catch {
                    logger.warning("pruning old records failed", metadata: ["error": "\(error)"])
                }
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: probeInterval) }
        }
    }
}
