import BridgeCore
import BridgeVerification

/// Stream tokens are secrets: the store keeps only a fingerprint of each (the first 8 bytes of its SHA-256, in hex),
/// and the forwarder finds the token again among the configured ones when it sends.
public enum StreamTokenRef {
    public static func fingerprint(_ token: Secret) -> String {
        ByteEncoding.hex(Array(Crypto.sha256(token.bytes).prefix(8)))
    }
}

/// The configured stream tokens by fingerprint (the default token and every token of the rule files).
public struct StreamTokens: Sendable {
    private let tokens: [String: Secret]

    public init(_ tokens: [Secret]) {
        var map: [String: Secret] = [:]
        for token in tokens where !token.bytes.isEmpty { map[StreamTokenRef.fingerprint(token)] = token }
        self.tokens = map
    }

    public func token(for ref: String) -> Secret? { tokens[ref] }
}
