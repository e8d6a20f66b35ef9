import CLibSSL
import Foundation

/// The HMAC digest algorithms the bridge accepts.
public enum HMACAlgorithm: String, Sendable, CaseIterable, Codable {
    case sha1
    case sha256
    case sha512

    var evp: OpaquePointer? {
        switch self {
        case .sha1: EVP_sha1()
        case .sha256: EVP_sha256()
        case .sha512: EVP_sha512()
        }
    }

    /// Digest length in bytes.
    public var length: Int {
        switch self {
        case .sha1: 20
        case .sha256: 32
        case .sha512: 64
        }
    }
}
