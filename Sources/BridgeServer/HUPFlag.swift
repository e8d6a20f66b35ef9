import BridgeCore
import BridgeDelivery
import BridgeMapping
import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

final class HUPFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    func take() -> Bool {
        flag.withLock {
            let v = $0
            $0 = false
            return v
        }
    }
}
