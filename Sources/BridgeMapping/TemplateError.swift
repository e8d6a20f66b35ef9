import BridgeCore
import Foundation

public struct TemplateError: Error, Sendable, CustomStringConvertible {
    /// Offset in characters from the start of the template.
    public let offset: Int
    public let message: String
    public var description: String { message }
}
