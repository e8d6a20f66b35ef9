import BridgeCore
import Foundation

/// What the console shows of a webhook's request: kept with its delivery, with sensitive header values masked
/// before they are stored and the body cut at `bodyLimit` bytes.
public struct StoredRequest: Sendable, Equatable {
    /// The most of a body kept (64 KiB).
    public static let bodyLimit = 64 * 1024
    /// What a masked header value is replaced with.
    public static let mask = "••••••"
    /// Words that make a header's value secret when its name contains one of them (case-insensitive).
    public static let sensitiveWords = ["signature", "token", "authorization", "secret", "key", "cookie", "password"]
    /// `sensitiveWords` as UTF-8 bytes, for the byte-level search of `isSensitive`.
    static let sensitiveWordBytes = sensitiveWords.map { Array($0.utf8) }

    public var clientAddress: String?
    /// Name and value pairs in the order received; sensitive values are masked.
    public var headers: [[String]] {
        get {
            switch storage {
            case .pairs(let pairs): pairs.map { [$0.0, $0.1] }
            case .rows(let rows): rows
            }
        }
        set { storage = .rows(newValue) }
    }
    /// The headers as they came: pairs from the webhook path (an array of two strings per header cost an
    /// allocation per header of every webhook, for `headersJSON` to read once), rows when read back from a store.
    private var storage: Storage
    private enum Storage: Sendable {
        case pairs([(String, String)])
        case rows([[String]])
    }
    /// The body's first `bodyLimit` bytes.
    public var body: [UInt8]
    /// The body's full size in bytes.
    public var bodySize: Int

    /// True when the body was kept but is no longer there to read (the embedded store keeps bodies in files beside
    /// the database; one may be lost in a power cut). `body` is empty then.
    public var bodyLost = false
    public var truncated: Bool { bodySize > body.count && !bodyLost }

    /// Keeps `headers` with sensitive values masked and the first `bodyLimit` bytes of `body`.
    public init(clientAddress: String?, headers: [(String, String)], body: [UInt8]) {
        self.clientAddress = clientAddress
        self.storage = .pairs(headers.map { ($0.0, StoredRequest.isSensitive($0.0) ? StoredRequest.mask : $0.1) })
        self.body = body.count > StoredRequest.bodyLimit ? Array(body.prefix(StoredRequest.bodyLimit)) : body
        self.bodySize = body.count
    }

    /// As read back from a store.
    public init(clientAddress: String?, headers: [[String]], body: [UInt8], bodySize: Int) {
        self.clientAddress = clientAddress
        self.storage = .rows(headers)
        self.body = body
        self.bodySize = bodySize
    }

    public static func == (a: StoredRequest, b: StoredRequest) -> Bool {
        a.clientAddress == b.clientAddress && a.headers == b.headers && a.body == b.body && a.bodySize == b.bodySize
            && a.bodyLost == b.bodyLost
    }

    /// True when a header of this name carries a secret (its value is never stored nor shown).
    /// Header names are HTTP tokens (ASCII): they are searched byte by byte, ignoring case, without allocating.
    /// Any other name takes the Unicode path (lowercased, then Foundation's `contains`), which gives the same answer
    /// for ASCII names but cost about 4% of all CPU under load.
    public static func isSensitive(_ name: String) -> Bool {
        if let known = ASCIICase.containsAny(name, sensitiveWordBytes) { return known }
        let lowered = name.lowercased()
        return sensitiveWords.contains { lowered.contains($0) }
    }

    /// The headers as JSON text (an array of `[name, value]` pairs), as stored.
    /// Written in one pass, the bytes `JSONValue` would write for the same arrays (a test checks it): it is built for
    /// every webhook stored.
    public var headersJSON: String {
        var out: [UInt8] = []
        switch storage {
        case .pairs(let pairs): out.reserveCapacity(pairs.reduce(2) { $0 + $1.0.utf8.count + $1.1.utf8.count + 8 })
        case .rows(let rows): out.reserveCapacity(rows.reduce(2) { $0 + $1.reduce(3) { $0 + $1.utf8.count + 3 } })
        }
        out.append(UInt8(ascii: "["))
        switch storage {
        case .pairs(let pairs):
            for (i, pair) in pairs.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(UInt8(ascii: "["))
                JSONValue._writeString(pair.0, into: &out)
                out.append(UInt8(ascii: ","))
                JSONValue._writeString(pair.1, into: &out)
                out.append(UInt8(ascii: "]"))
            }
        case .rows(let rows):
            for (i, items) in rows.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(UInt8(ascii: "["))
                for (j, item) in items.enumerated() {
                    if j > 0 { out.append(UInt8(ascii: ",")) }
                    JSONValue._writeString(item, into: &out)
                }
                out.append(UInt8(ascii: "]"))
            }
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads `headersJSON` back.
    public static func headers(fromJSON text: String) -> [[String]] {
        guard case .array(let pairs)? = try? JSONValue.parse(Array(text.utf8)) else { return [] }
        return pairs.compactMap { pair in
            guard case .array(let items) = pair else { return nil }
            let strings = items.compactMap { item -> String? in
                if case .string(let s) = item { return s }
                return nil
            }
            return strings.count == 2 ? strings : nil
        }
    }
}
