import BridgeCore
import Foundation
import NIOSSL
import PostgresNIO

/// A PostgreSQL connection URL, `postgres://user:password@host:5432/db?sslmode=require` (or `postgresql://`).
/// The password is a `Secret`; `redacted` is the URL to log, with the password replaced by `***`.
public struct PostgresDatabaseURL: Sendable, CustomStringConvertible {
    /// libpq's `sslmode` values the bridge understands.
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: Secret?
    public var database: String
    public var sslMode: SSLMode
    /// The schema the bridge's tables live in (`?schema=`, default `public`); tests use one schema each.
    public var schema: String?

    /// Parses `text`; nil when it is not a postgres URL or names an unknown `sslmode`.
    public init?(_ text: String) {
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql", let host = c.host, !host.isEmpty
        else { return nil }
        self.host = host
        self.port = c.port ?? 5432
        self.username = c.user.flatMap { $0.removingPercentEncoding ?? $0 } ?? "postgres"
        self.password = c.password.map { Secret($0.removingPercentEncoding ?? $0) }
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        self.database = path.isEmpty ? username : (path.removingPercentEncoding ?? path)
        var mode = SSLMode.prefer
        var schema: String?
        for item in c.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let m = item.value.flatMap(SSLMode.init(rawValue:)) else { return nil }
                mode = m
            case "schema":
                guard let v = item.value, PostgresDatabaseURL.isIdentifier(v) else { return nil }
                schema = v
            default: break
            }
        }
        self.sslMode = mode
        self.schema = schema
    }

    /// Lower-case letters, digits and `_`, starting with a letter or `_`: safe to put in SQL unquoted.
    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.count <= 63 else { return false }
        let ok = { (u: Unicode.Scalar) in (u >= "a" && u <= "z") || u == "_" }
        return ok(first) && s.unicodeScalars.allSatisfy { ok($0) || ($0 >= "0" && $0 <= "9") }
    }

    /// The URL with the password replaced by `***`: what is logged.
    public var redacted: String {
        var s = "postgres://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)"
        var query = ["sslmode=\(sslMode.rawValue)"]
        if let schema { query.append("schema=\(schema)") }
        s += "?" + query.joined(separator: "&")
        return s
    }

    public var description: String { redacted }

    /// The postgres-nio TLS setting for `sslMode`, trusting `caFile` (PEM) when given.
    /// `prefer` and `require` encrypt without checking the certificate unless a CA file is given (as libpq);
    /// `verify-ca` checks the chain; `verify-full` checks the chain and the host name.
    public func tls(caFile: String?) throws -> PostgresClient.Configuration.TLS {
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
}
