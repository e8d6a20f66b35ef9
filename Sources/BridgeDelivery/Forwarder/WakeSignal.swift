import Synchronization

/// A wake-up signal with a timeout, for loops that sleep until there is work.
package final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    package init() {}

    package func notify() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after `notify()` or after `timeout`, whichever comes first (or at once when cancelled).
    package func wait(timeout: Duration) async {
        if state.withLock({ s -> Bool in
            if s.pending {
                s.pending = false
                return true
            }
            return false
        }) {
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                if (try? await Task.sleep(for: timeout)) != nil { self.notify() }
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { s -> Bool in
                        if s.pending || Task.isCancelled {
                            s.pending = false
                            return true
                        }
                        s.waiter = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            } onCancel: {
                self.notify()
            }
            group.cancelAll()
        }
        state.withLock { $0.pending = false }
    }
}
