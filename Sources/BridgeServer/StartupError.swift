import AsyncHTTPClient
import BridgeCloudthread
import BridgeCore
import BridgeDelivery
import BridgeMapping
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Start-up refused because rule files have errors.
public struct StartupError: Error, CustomStringConvertible {
    public let diagnostics: [Diagnostic]
    public var description: String {
        let errors = diagnostics.filter { $0.severity == .error }
        return "the rule files have \(errors.count) error\(errors.count == 1 ? "" : "s"):\n"
            + diagnostics.map(\.description).joined(separator: "\n")
    }
}
