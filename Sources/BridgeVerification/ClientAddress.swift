import Foundation

/// The address of the client behind trusted proxies (`BRIDGE_TRUSTED_PROXIES`).
///
/// When the socket's peer is a trusted proxy, the client is the rightmost address of the forwarding header
/// (`Forwarded: for=` per RFC 7239 when present, else `X-Forwarded-For`) that is not itself a trusted proxy: every
/// address to its right was added by a proxy we trust, and the one it names is the first hop we cannot vouch for.
/// From any other peer the headers are ignored (anyone can write them), and the client is the peer.
public struct TrustedProxies: Sendable {
    public let networks: [CIDR]

    public init(_ networks: [CIDR]) { self.networks = networks }

    /// Parses a comma-separated list of CIDRs (an address alone is a /32 or /128); a failure names the bad entry.
    public static func parse(_ text: String) -> Result<TrustedProxies, ParseError> {
        var networks: [CIDR] = []
        for part in text.split(separator: ",") {
            let item = part.trimmingCharacters(in: .whitespaces)
            if item.isEmpty { continue }
            guard let cidr = CIDR(item) else { return .failure(ParseError(entry: item)) }
            networks.append(cidr)
        }
        return .success(TrustedProxies(networks))
    }

    public struct ParseError: Error, Sendable {
        public var entry: String
    }

    public func isTrusted(_ address: String) -> Bool { networks.contains { $0.contains(address) } }

    /// The client's address: `peer` unless it is trusted, else the rightmost untrusted address of the headers.
    /// - Parameters:
    ///   - forwarded: the values of every `Forwarded` header line, in order.
    ///   - forwardedFor: the values of every `X-Forwarded-For` header line, in order.
    public func client(peer: String?, forwarded: [String], forwardedFor: [String]) -> String? {
        guard let peer, !networks.isEmpty, isTrusted(peer) else { return peer }
        let chain: [String?]
        if !forwarded.isEmpty {
            chain = forwarded.flatMap { $0.split(separator: ",") }.map { Self.forValue(String($0)) }
        } else {
            chain = forwardedFor.flatMap { $0.split(separator: ",") }.map {
                Self.address(String($0).trimmingCharacters(in: .whitespaces))
            }
        }
        var client = peer
        for entry in chain.reversed() {
            // An entry that is no address (`unknown`, an obfuscated name, garbage): what lies to its left cannot be
            // vouched for; the last trusted hop is the best we know.
            guard let address = entry else { return client }
            client = address
            if !isTrusted(address) { return address }
        }
        return client
    }

    /// The address of one `Forwarded` element's `for=` parameter, nil when it has none or it is not an address.
    static func forValue(_ element: String) -> String? {
        for pair in element.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "for" else {
                continue
            }
            var value = parts[1].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            return address(value)
        }
        return nil
    }

    /// A textual IPv4 or IPv6 address from `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443` or `2001:db8::1`.
    static func address(_ text: String) -> String? {
        var value = Substring(text)
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { return nil }
            value = value[value.index(after: value.startIndex)..<close]
        } else if value.filter({ $0 == ":" }).count == 1, let colon = value.firstIndex(of: ":") {
            value = value[..<colon]
        }
        let result = String(value)
        return CIDR.parseAddress(result) != nil ? result : nil
    }
}
