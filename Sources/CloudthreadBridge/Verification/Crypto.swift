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

/// Thin wrapper over OpenSSL's libcrypto. This file is the only importer of `CLibSSL`.
public enum Crypto {
    /// HMAC of `data` keyed with `key`.
    public static func hmac(_ algorithm: HMACAlgorithm, key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var outLength: UInt32 = 0
        let ok = key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in
                out.withUnsafeMutableBufferPointer { o in
                    // A zero-length key still needs a valid pointer for HMAC().
                    var empty: UInt8 = 0
                    return withUnsafePointer(to: &empty) { emptyPtr in
                        HMAC(
                            algorithm.evp,
                            k.baseAddress.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(emptyPtr),
                            Int32(k.count),
                            d.baseAddress ?? emptyPtr,
                            d.count,
                            o.baseAddress,
                            &outLength
                        )
                    }
                }
            }
        }
        precondition(ok != nil, "libcrypto HMAC failed")
        return Array(out.prefix(Int(outLength)))
    }

    /// SHA-256 digest.
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = data.withUnsafeBufferPointer { d in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(d.baseAddress, d.count, o.baseAddress, &length, EVP_sha256(), nil)
            }
        }
        precondition(ok == 1, "libcrypto SHA-256 failed")
        return out
    }

    /// Compares two byte strings in time that depends only on their lengths (`CRYPTO_memcmp`).
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0
            }
        }
    }

    /// Verifies an Ed25519 signature through libcrypto's EVP interface.
    public static func ed25519Verify(publicKey: [UInt8], signature: [UInt8], message: [UInt8]) -> Bool {
        guard publicKey.count == 32, signature.count == 64 else { return false }
        guard let key = publicKey.withUnsafeBufferPointer({ EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) })
        else { return false }
        defer { EVP_PKEY_free(key) }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, nil, nil, key) == 1 else { return false }
        let rc = signature.withUnsafeBufferPointer { s in
            message.withUnsafeBufferPointer { m in
                var empty: UInt8 = 0
                return withUnsafePointer(to: &empty) { e in
                    EVP_DigestVerify(ctx, s.baseAddress, 64, m.baseAddress ?? e, m.count)
                }
            }
        }
        ERR_clear_error()
        return rc == 1
    }

    /// Derives the Ed25519 public key of a raw 32-byte private key (used by `sign` and tests).
    public static func ed25519Sign(privateKey: [UInt8], message: [UInt8]) -> [UInt8]? {
        guard privateKey.count == 32,
            let key = privateKey.withUnsafeBufferPointer({ EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) })
        else { return nil }
        defer { EVP_PKEY_free(key) }
        guard let ctx = EVP_MD_CTX_new() else { return nil }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, nil, nil, key) == 1 else { return nil }
        var sig = [UInt8](repeating: 0, count: 64)
        var sigLength = 64
        let rc = message.withUnsafeBufferPointer { m in
            sig.withUnsafeMutableBufferPointer { s in
                var empty: UInt8 = 0
                return withUnsafePointer(to: &empty) { e in
                    EVP_DigestSign(ctx, s.baseAddress, &sigLength, m.baseAddress ?? e, m.count)
                }
            }
        }
        return rc == 1 ? sig : nil
    }

    /// The raw public key for a raw Ed25519 private key.
    public static func ed25519PublicKey(privateKey: [UInt8]) -> [UInt8]? {
        guard privateKey.count == 32,
            let key = privateKey.withUnsafeBufferPointer({ EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) })
        else { return nil }
        defer { EVP_PKEY_free(key) }
        var out = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(key, &out, &length) == 1 else { return nil }
        return out
    }
}

/// Hex and base64 helpers shared by the verifiers and the `sign` command.
public enum ByteEncoding {
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex (either case); nil for odd length or a non-hex character.
    public static func fromHex(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    public static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    public static func fromBase64(_ text: some StringProtocol) -> [UInt8]? {
        Data(base64Encoded: String(text)).map { [UInt8]($0) }
    }

    public static func base64URL(_ bytes: [UInt8]) -> String {
        base64(bytes).replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func fromBase64URL(_ text: some StringProtocol) -> [UInt8]? {
        var s = String(text).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return fromBase64(s)
    }
}
