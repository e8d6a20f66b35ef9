import BridgeCore
import BridgeVerification
import Foundation

public struct EventTemplate: Sendable {
    public var type: Template
    public var time: Template?
    public var description: Template?
    public var url: Template?
    public var team: Template?
}
