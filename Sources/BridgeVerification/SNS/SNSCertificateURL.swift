import Foundation

/// Validation of the URLs inside an SNS message that the bridge would fetch or hand on:
/// `SigningCertURL` (fetched by the certificate cache) and `SubscribeURL` (of the confirmation types).
///
/// The check works on the raw string with its own small parser instead of trusting one URL library's
/// reading of it, then confirms Foundation's `URL` reads the same scheme, host and port, so that the
/// fetcher (which uses `URL`) cannot be pointed somewhere else by a parser disagreement.
public enum SNSCertificateURL {
    /// Why a URL was refused. `description` is safe to log (it quotes at most a short, sanitised piece).
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case empty
        case tooLong
        /// Whitespace, control, non-ASCII, backslash or percent characters anywhere in the URL.
        case forbiddenCharacter
        case notHTTPS
        case userInfo
        case port(String)
        case hostNotSNS(String)
        case badPath
        case notPEM
        case queryOrFragment
        case fragment
        case parserDisagreement

        public var description: String {
            switch self {
            case .empty: "the URL is empty"
            case .tooLong: "the URL is longer than \(SNSCertificateURL.maximumLength) characters"
            case .forbiddenCharacter: "the URL holds whitespace, control, non-ASCII, '\\' or '%' characters"
            case .notHTTPS: "the URL is not https"
            case .userInfo: "the URL carries user information ('@')"
            case .port(let p): "the URL names port \(p); only the default (443) is allowed"
            case .hostNotSNS(let h): "host '\(h)' is not an Amazon SNS endpoint (sns.<region>.amazonaws.com[.cn])"
            case .badPath: "the URL path has an empty, '.', '..' or unsafe segment"
            case .notPEM: "the certificate path does not end in '.pem'"
            case .queryOrFragment: "the certificate URL has a query or fragment"
            case .fragment: "the URL has a fragment"
            case .parserDisagreement: "the URL is read differently by Foundation's URL parser"
            }
        }
    }

    /// A validated URL and the parts the cache needs.
    public struct Validated: Sendable, Equatable {
        /// The URL exactly as received (after validation), the cache key.
        public var string: String
        public var url: URL
        /// Lower-cased host, e.g. `sns.us-east-1.amazonaws.com`.
        public var host: String
        /// e.g. `us-east-1`.
        public var region: String
        /// Last path segment, already checked against `[A-Za-z0-9][A-Za-z0-9._-]*` (certificate URLs only).
        public var fileName: String?
    }

    public static let maximumLength = 2048

    /// Validates a `SigningCertURL`: https, an SNS host, default port, no user info, no query or fragment,
    /// a path of safe segments whose last one ends in `.pem`.
    public static func validateSigningCertURL(_ text: String) -> Result<Validated, Refusal> {
        validate(text, certificate: true)
    }

    /// Validates a confirmation's `SubscribeURL`: https, an SNS host, default port, no user info, no
    /// fragment. A query is expected (`?Action=ConfirmSubscription&TopicArn=…&Token=…`).
    public static func validateSubscribeURL(_ text: String) -> Result<Validated, Refusal> {
        validate(text, certificate: false)
    }

    // MARK: Implementation

    private static func validate(_ text: String, certificate: Bool) -> Result<Validated, Refusal> {
        if text.isEmpty { return .failure(.empty) }
        if text.utf8.count > maximumLength { return .failure(.tooLong) }
        // Printable ASCII only; no backslash (some parsers read it as '/'), no '%' (no encoded tricks:
        // genuine SNS URLs never need it in the part we check, and the query is re-checked below).
        for byte in text.utf8 {
            guard byte > 0x20, byte < 0x7f, byte != UInt8(ascii: "\\") else { return .failure(.forbiddenCharacter) }
        }
        let lower = text.lowercased()
        guard lower.hasPrefix("https://") else { return .failure(.notHTTPS) }
        let afterScheme = text.dropFirst("https://".count)

        // Authority: up to the first '/', '?' or '#'.
        let authorityEnd =
            afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        let rest = afterScheme[authorityEnd...]
        if authority.contains("@") { return .failure(.userInfo) }
        if authority.contains("%") { return .failure(.forbiddenCharacter) }
        // IPv6 literal: never an SNS host (checked before the port split, which it would confuse).
        if authority.hasPrefix("[") { return .failure(.hostNotSNS(String(authority.prefix(80)))) }
        var hostPart = Substring(authority)
        var explicitPort: String?
        if let colon = authority.firstIndex(of: ":") {
            hostPart = authority[..<colon]
            let port = authority[authority.index(after: colon)...]
            guard port == "443" else { return .failure(.port(String(port.prefix(8)))) }
            explicitPort = String(port)
        }
        let host = hostPart.lowercased()
        guard let region = snsRegion(ofHost: host) else {
            return .failure(.hostNotSNS(String(host.prefix(80))))
        }

        // Path, query, fragment.
        if rest.contains("#") { return .failure(certificate ? .queryOrFragment : .fragment) }
        let queryStart = rest.firstIndex(of: "?")
        let path = rest[..<(queryStart ?? rest.endIndex)]
        if certificate {
            if queryStart != nil { return .failure(.queryOrFragment) }
            if path.contains("%") { return .failure(.forbiddenCharacter) }
            guard path.hasPrefix("/"), path.count > 1 else { return .failure(.notPEM) }
            let segments = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
            for segment in segments where !isSafeSegment(segment) { return .failure(.badPath) }
            guard let last = segments.last, last.count > 4, last.hasSuffix(".pem") else { return .failure(.notPEM) }
        } else {
            // SubscribeURL: path "/" (or empty) then the query; the query may use percent-encoding.
            guard path.isEmpty || path == "/" else { return .failure(.badPath) }
        }

        // Foundation must agree on scheme, host and port.
        guard let url = URL(string: text), url.scheme?.lowercased() == "https", url.host?.lowercased() == host,
            url.user == nil, url.password == nil, url.port == explicitPort.flatMap(Int.init)
        else { return .failure(.parserDisagreement) }

        let fileName = certificate ? path.split(separator: "/").last.map(String.init) : nil
        return .success(Validated(string: text, url: url, host: host, region: region, fileName: fileName))
    }

    /// `sns.<region>.amazonaws.com` or, for the China partition, `sns.cn-<…>.amazonaws.com.cn`; returns
    /// the region. The partition must agree with the region (`cn-` regions only under `.com.cn`).
    public static func snsRegion(ofHost host: String) -> String? {
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        let china: Bool
        if labels.count == 4, labels[2] == "amazonaws", labels[3] == "com" {
            china = false
        } else if labels.count == 5, labels[2] == "amazonaws", labels[3] == "com", labels[4] == "cn" {
            china = true
        } else {
            return nil
        }
        guard labels[0] == "sns", isRegion(labels[1]) else { return nil }
        guard labels[1].hasPrefix("cn-") == china else { return nil }
        return String(labels[1])
    }

    /// A region name: 2–4 lower-case letters, one or two lower-case words, then a number of 1–2 digits
    /// (`us-east-1`, `ap-southeast-5`, `cn-north-1`, `us-gov-west-1`).
    public static func isRegion(_ text: Substring) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3 || parts.count == 4 else { return false }
        func letters(_ s: Substring, _ range: ClosedRange<Int>) -> Bool {
            range.contains(s.count) && s.utf8.allSatisfy { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }
        }
        guard letters(parts[0], 2...4) else { return false }
        for middle in parts.dropFirst().dropLast() where !letters(middle, 2...12) { return false }
        let number = parts[parts.count - 1]
        return (1...2).contains(number.count)
            && number.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// A path segment usable as a file name: `[A-Za-z0-9][A-Za-z0-9._-]*`, at most 200 bytes. This rules out
    /// empty segments, `.`, `..`, hidden files and every separator.
    public static func isSafeSegment(_ segment: Substring) -> Bool {
        guard let first = segment.utf8.first, segment.utf8.count <= 200, isAlphanumeric(first) else { return false }
        return segment.utf8.allSatisfy {
            isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
    }
}
