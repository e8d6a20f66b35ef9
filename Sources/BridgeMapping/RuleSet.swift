import Foundation
import Synchronization

/// The rules in force, swapped as a whole on reload so that a request sees one consistent set.
public final class RuleSet: Sendable {
    public struct Snapshot: Sendable {
        public var sources: [String: SourceDefinition]
        public var loadedAt: Date
        public var files: [String]
    }

    private let current: Mutex<Snapshot>

    public init(sources: [SourceDefinition], files: [String] = []) {
        current = Mutex(
            Snapshot(
                sources: Dictionary(sources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }), loadedAt: Date(),
                files: files))
    }

    public var snapshot: Snapshot { current.withLock { $0 } }

    public func source(_ name: String) -> SourceDefinition? { current.withLock { $0.sources[name] } }

    public func replace(with sources: [SourceDefinition], files: [String]) {
        current.withLock {
            $0 = Snapshot(
                sources: Dictionary(sources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }), loadedAt: Date(),
                files: files)
        }
    }
}
