import BridgeCore
import Foundation
import Synchronization

/// Simulated time: it moves only when the simulation advances it, or when a component sleeps on it (a sleep moves it
/// forward and returns at once). One schedule of hours runs in milliseconds.
final class SimClock: BridgeClock {
    private let time: Mutex<Date>

    init(start: Date) { time = Mutex(start) }

    func now() -> Date { time.withLock { $0 } }

    func sleep(for duration: Duration) async {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        time.withLock { $0 = $0.addingTimeInterval(max(0, seconds)) }
    }

    /// Moves the time forward to `date` (never back).
    func advance(to date: Date) {
        time.withLock { if date > $0 { $0 = date } }
    }
}
