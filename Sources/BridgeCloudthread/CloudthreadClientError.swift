import BridgeCore
import Foundation

public struct CloudthreadClientError: Error, Sendable, CustomStringConvertible {
    public let outcome: CloudthreadOutcome
    public var description: String { "\(outcome)" }
}
