import BridgeCore
import BridgeVerification
import Synchronization

/// Stream tokens are secrets: the store keeps only a fingerprint of each (the first 8 bytes of its SHA-256, in hex),
/// and the forwarder finds the token again among the configured ones when it sends.
public enum StreamTokenRef {
    public static func fingerprint(_ token: Secret) -> String {
        // Every metric of every webhook asks, almost always for the same token: the last answer is kept (the
        // token compared in constant time), so a hash and three allocations are not made per metric.
        if let hit = last.withLock({ last in
            last.flatMap { Crypto.constantTimeEquals($0.bytes, token.bytes) ? $0.fingerprint : nil }
        }) {
            return hit
        }
        let fingerprint = compute(token)
        last.withLock { $0 = (token.bytes, fingerprint) }
        return fingerprint
    }

    /// The fingerprint itself: the first 8 bytes of the token's SHA-256, in hex.
    static func compute(_ token: Secret) -> String {
        ByteEncoding.hex(Array(Crypto.sha256(token.bytes).prefix(8)))
    }

    private static let last = Mutex<(bytes: [UInt8], fingerprint: String)?>(nil)
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
