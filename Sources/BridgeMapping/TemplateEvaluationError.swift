import BridgeCore
import Foundation

/// An error raised while evaluating a template against a payload (for example a date that cannot be parsed).
public struct TemplateEvaluationError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
