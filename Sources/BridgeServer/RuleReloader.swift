import BridgeCore
import BridgeDelivery
import BridgeMapping
import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Reloads the rule files on SIGHUP and when the mappings directory changes (including Kubernetes'
/// atomic `..data` symlink swap). A broken change is refused with its diagnostics; the rules in force stay.
public final class RuleReloader: Service {
    let path: String
    let loader: RuleLoader
    let rules: RuleSet
    let metrics: BridgeMetrics
    let logger: Logger
    let watch: Bool
    let interval: Duration
    private let wakeSignal = WakeSignal()
    private let last = Mutex<ReloadAttempt?>(nil)

    /// The last reload attempt since start-up; nil when none was made.
    public var lastAttempt: ReloadAttempt? { last.withLock { $0 } }

    public init(
        path: String, loader: RuleLoader, rules: RuleSet, metrics: BridgeMetrics, logger: Logger, watch: Bool,
        interval: Duration = .seconds(1)
    ) {
        self.path = path
        self.loader = loader
        self.rules = rules
        self.metrics = metrics
        self.logger = logger
        self.watch = watch
        self.interval = interval
    }

    /// A fingerprint of the rule files: resolved paths, sizes, modification times and inodes, plus the
    /// target of every symlink in the directory (so a `..data` swap changes it).
    static func fingerprint(_ path: String) -> String {
        var parts: [String] = []
        let fm = FileManager.default
        if let entries = try? fm.contentsOfDirectory(atPath: path) {
            for name in entries.sorted() {
                let full = (path as NSString).appendingPathComponent(name)
                if let target = try? fm.destinationOfSymbolicLink(atPath: full) { parts.append("\(name)->\(target)") }
                if let attrs = try? fm.attributesOfItem(atPath: (full as NSString).resolvingSymlinksInPath) {
                    parts.append(
                        "\(name):\(attrs[.size] ?? 0):\((attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0):\(attrs[.systemFileNumber] ?? 0)"
                    )
                }
            }
        } else if let attrs = try? fm.attributesOfItem(atPath: path) {
            parts.append("\(attrs[.size] ?? 0):\((attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)")
        }
        return parts.joined(separator: "|")
    }

    /// Loads the files now; on success the new rules replace the old ones. Returns the diagnostics.
    @discardableResult
    public func reload(reason: String) -> [Diagnostic] {
        let result = loader.load(path: path)
        let attempt = ReloadAttempt(
            at: Date(), reason: reason, applied: !result.diagnostics.hasErrors, diagnostics: result.diagnostics.sorted)
        last.withLock { $0 = attempt }
        if result.diagnostics.hasErrors {
            metrics.reload(result: "failed")
            let listing = result.diagnostics.map(\.description).joined(separator: "\n")
            logger.error("rule reload (\(reason)) refused; the rules in force stay:\n\(listing)")
            return result.diagnostics
        }
        rules.replace(with: result.sources, files: result.files)
        metrics.reload(result: "succeeded")
        logger.notice(
            "rules reloaded (\(reason))",
            metadata: ["rule.sources": "\(result.sources.map(\.name).sorted().joined(separator: ","))"])
        Bridge.announce(result.sources, logger: logger)
        return result.diagnostics
    }

    public func run() async throws {
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        signal(SIGHUP, SIG_IGN)
        let wake = self.wakeSignal
        let requested = HUPFlag()
        hup.setEventHandler {
            requested.set()
            wake.notify()
        }
        hup.resume()
        defer { hup.cancel() }
        var last = RuleReloader.fingerprint(path)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            _ = await cancelWhenGracefulShutdown { await wake.wait(timeout: self.interval) }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            if requested.take() {
                reload(reason: "SIGHUP")
                last = RuleReloader.fingerprint(path)
                continue
            }
            guard watch else { continue }
            let now = RuleReloader.fingerprint(path)
            if now != last {
                last = now
                reload(reason: "files changed")
            }
        }
    }
}
