import Foundation

/// The time as a component sees it, injected so that tests and the simulation can move it (the forwarder reads no
/// other clock). `SystemClock` is the wall clock; a simulated clock advances only when told.
public protocol BridgeClock: Sendable {
    /// The present.
    func now() -> Date
    /// Waits `duration` of this clock's time (a simulated clock moves itself forward and returns at once).
    func sleep(for duration: Duration) async
}

/// The system's wall clock.
public struct SystemClock: BridgeClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(for duration: Duration) async {
        try? await Task.sleep(for: duration)
    }
}

/// A small, fast, seedable random number generator (SplitMix64), so that decisions with jitter replay exactly from a
/// seed in the simulation.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
