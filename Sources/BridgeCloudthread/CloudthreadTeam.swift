import BridgeCore
import Foundation

/// A Cloudthread team from `GET /teams`.
public struct CloudthreadTeam: Sendable, Equatable {
    public var id: Int
    public var name: String
}
