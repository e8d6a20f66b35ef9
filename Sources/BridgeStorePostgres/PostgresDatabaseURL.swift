import BridgeCore
import BridgeVerification
import Foundation
import NIOSSL
import PostgresNIO

/// A PostgreSQL connection URL, `postgres://user:password@host:5432/db?sslmode=require` (or `postgresql://`).
/// The password is a `Secret`; `redacted` is the URL to log, with the password replaced by `***`.
///
/// Without `sslmode` the connection is `verify-full` (TLS, the server's certificate checked against the system's
/// CAs or `BRIDGE_DATABASE_CA_FILE`, host name included), except on a Unix socket (`%2Fvar%2Frun%2Fpostgresql` as
/// the host: a directory, as libpq) or a loopback host (127.0.0.0/8, ::1, `localhost`), where it is `prefer`.
/// A query parameter given twice is refused: which one was meant cannot be known.
public struct PostgresDatabaseURL: Sendable, CustomStringConvertible {
    /// libpq's `sslmode` values the bridge understands.
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    /// Why a text is not a usable URL. Its sentences never repeat the URL (it may hold the password).
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public enum Reason: Sendable, Equatable {
            case notAPostgresURL
            case unknownSSLMode
            case invalidSchema
            /// The query parameter given more than once; nil when its name does not look like a parameter's
            /// (it is then not repeated, as it might be a piece of a mistyped password).
            case repeatedParameter(String?)
        }

        public let reason: Reason

        /// What would be accepted, to follow "must be".
        public var expected: String {
            switch reason {
            case .notAPostgresURL:
                return "postgres://user:password@host:5432/database (or postgresql://), with sslmode one of "
                    + SSLMode.allCases.map(\.rawValue).joined(separator: ", ")
            case .unknownSSLMode:
                return "a URL whose sslmode is one of " + SSLMode.allCases.map(\.rawValue).joined(separator: ", ")
            case .invalidSchema:
                return "a URL whose schema is lower-case letters, digits and _ (at most 63, not starting with a digit)"
            case .repeatedParameter(let name):
                let which = name.map { "'\($0)'" } ?? "one of them"
                return "a URL that gives each query parameter once, but \(which) is given more than once"
            }
        }

        public var description: String { "The database URL must be \(expected)." }
    }

    /// The host name or address (an IPv6 address without its brackets), or the directory of a Unix socket.
    public var host: String
    public var port: Int
    public var username: String
    public var password: Secret?
    public var database: String
    /// The `sslmode` given, or the default for the host when none is.
    public var sslMode: SSLMode
    /// True when the URL gives no `sslmode` and `sslMode` is the default for its host.
    public var sslModeIsDefault: Bool
    /// The schema the bridge's tables live in (`?schema=`, default `public`); tests use one schema each.
    public var schema: String?

    /// Parses `text`; nil when it is not a usable postgres URL (`parse` says why).
    public init?(_ text: String) {
        guard let url = try? Self.parse(text) else { return nil }
        self = url
    }

    private init(
        host: String, port: Int, username: String, password: Secret?, database: String, sslMode: SSLMode?,
        schema: String?
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode ?? Self.defaultSSLMode(host: host)
        self.sslModeIsDefault = sslMode == nil
        self.schema = schema
    }

    /// Parses `text`, or says why it cannot be used.
    public static func parse(_ text: String) throws(ParseError) -> PostgresDatabaseURL {
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql", var host = c.host, !host.isEmpty
        else { throw ParseError(reason: .notAPostgresURL) }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let username = c.user.flatMap { $0.removingPercentEncoding ?? $0 } ?? "postgres"
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        let items = c.queryItems ?? []
        var seen = Set<String>()
        for item in items where !seen.insert(item.name).inserted {
            throw ParseError(reason: .repeatedParameter(Self.isParameterName(item.name) ? item.name : nil))
        }
        var mode: SSLMode?
        var schema: String?
        for item in items {
            switch item.name {
            case "sslmode":
                guard let m = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw ParseError(reason: .unknownSSLMode)
                }
                mode = m
            case "schema":
                guard let v = item.value, PostgresDatabaseURL.isIdentifier(v) else {
                    throw ParseError(reason: .invalidSchema)
                }
                schema = v
            default: break
            }
        }
        return PostgresDatabaseURL(
            host: host, port: c.port ?? 5432, username: username,
            password: c.password.map { Secret($0.removingPercentEncoding ?? $0) },
            database: path.isEmpty ? username : (path.removingPercentEncoding ?? path), sslMode: mode,
            schema: schema)
    }

    /// True when `host` is the directory of a Unix socket (it starts with `/`, as libpq).
    public static func isUnixSocket(host: String) -> Bool { host.hasPrefix("/") }

    /// True for `localhost` and the loopback addresses (127.0.0.0/8, ::1, and ::ffff:127.0.0.0/104).
    public static func isLoopback(host: String) -> Bool {
        var name = host.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        if name == "localhost" { return true }
        return loopbackNetworks.contains { $0.contains(name) }
    }

    private static let loopbackNetworks = ["127.0.0.0/8", "::1/128"].compactMap(CIDR.init)

    /// `prefer` on a Unix socket or a loopback host, where the traffic does not leave the machine;
    /// `verify-full` anywhere else.
    public static func defaultSSLMode(host: String) -> SSLMode {
        isUnixSocket(host: host) || isLoopback(host: host) ? .prefer : .verifyFull
    }

    /// The path of the server's socket (`<directory>/.s.PGSQL.<port>`, as libpq), when the host is a directory.
    public var unixSocketPath: String? {
        Self.isUnixSocket(host: host) ? host + "/.s.PGSQL.\(port)" : nil
    }

    /// Letters, digits, `_` and `-`, at most 40: a name that may be repeated in an error.
    static func isParameterName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 40
            && s.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_-".unicodeScalars.contains($0))
            }
    }

    /// Lower-case letters, digits and `_`, starting with a letter or `_`: safe to put in SQL unquoted.
    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.count <= 63 else { return false }
        let ok = { (u: Unicode.Scalar) in (u >= "a" && u <= "z") || u == "_" }
        return ok(first) && s.unicodeScalars.allSatisfy { ok($0) || ($0 >= "0" && $0 <= "9") }
    }

    /// The URL with the password replaced by `***`: what is logged.
    public var redacted: String {
        let shownHost =
            Self.isUnixSocket(host: host)
            ? host.replacingOccurrences(of: "/", with: "%2F") : host.contains(":") ? "[\(host)]" : host
        var s = "postgres://\(username)\(password == nil ? "" : ":***")@\(shownHost):\(port)/\(database)"
        var query = ["sslmode=\(sslMode.rawValue)"]
        if let schema { query.append("schema=\(schema)") }
        s += "?" + query.joined(separator: "&")
        return s
    }

    public var description: String { redacted }

    /// How `sslMode` connects: without TLS, with TLS when the server offers it, or only with TLS.
    public enum TLSPlan {
        case disable
        case prefer(TLSConfiguration)
        case require(TLSConfiguration)

        /// `disable`, `prefer` or `require`, as postgres-nio names them.
        public var name: String {
            switch self {
            case .disable: "disable"
            case .prefer: "prefer"
            case .require: "require"
            }
        }

        /// The TLS configuration, when TLS is tried at all.
        public var configuration: TLSConfiguration? {
            switch self {
            case .disable: nil
            case .prefer(let config), .require(let config): config
            }
        }
    }

    /// The TLS plan for `sslMode`, trusting `caFile` (PEM) when given, else the system's CAs.
    /// `prefer` and `require` encrypt without checking the certificate unless a CA file is given (as libpq);
    /// `verify-ca` checks the chain; `verify-full` checks the chain and the host name. On a Unix socket there is no
    /// TLS, whatever the mode (as libpq).
    public func tlsPlan(caFile: String?) throws -> TLSPlan {
        if sslMode == .disable || unixSocketPath != nil { return .disable }
        var config = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        }
        switch sslMode {
        case .disable: return .disable
        case .prefer:
            config.certificateVerification = caFile == nil ? .none : .noHostnameVerification
            return .prefer(config)
        case .require:
            config.certificateVerification = caFile == nil ? .none : .noHostnameVerification
            return .require(config)
        case .verifyCA:
            config.certificateVerification = .noHostnameVerification
            return .require(config)
        case .verifyFull:
            config.certificateVerification = .fullVerification
            return .require(config)
        }
    }

    /// The postgres-nio TLS setting of `tlsPlan(caFile:)`.
    public func tls(caFile: String?) throws -> PostgresClient.Configuration.TLS {
        switch try tlsPlan(caFile: caFile) {
        case .disable: return .disable
        case .prefer(let config): return .prefer(config)
        case .require(let config): return .require(config)
        }
    }
}
