import CLibSSL
import Foundation
import Synchronization

/// Thin wrapper over OpenSSL's libcrypto. This file is the only importer of `CLibSSL`.
public enum Crypto {
    /// HMAC of `data` keyed with `key`.
    ///
    /// Through a reused `EVP_MAC_CTX` of the algorithm (`HMACContexts`): libcrypto 3's one-shot `HMAC()` fetches the
    /// MAC and builds its contexts on every call (about 13 allocations and 7 µs of a 9 KB webhook's HMAC, on every
    /// webhook and every forgery), where a kept context only takes the new key (about 5). An empty key, or a context
    /// that fails, takes the one-shot path: a context given no key keeps its previous one.
    public static func hmac(_ algorithm: HMACAlgorithm, key: [UInt8], data: [UInt8]) -> [UInt8] {
        if !key.isEmpty, let mac = HMACContexts.shared.hmac(algorithm, key: key, data: data) { return mac }
        return hmacOneShot(algorithm, key: key, data: data)
    }

    /// HMAC through libcrypto's one-shot `HMAC()` (the reference the reused contexts are tested against).
    static func hmacOneShot(_ algorithm: HMACAlgorithm, key: [UInt8], data: [UInt8]) -> [UInt8] {
        // One allocation: the digest is written into the array that is returned.
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: Int(EVP_MAX_MD_SIZE)) { o, initialized in
            var outLength: UInt32 = 0
            let result = key.withUnsafeBufferPointer { k in
                data.withUnsafeBufferPointer { d in
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
            ok = result != nil
            initialized = ok ? Int(outLength) : 0
        }
        precondition(ok, "libcrypto HMAC failed")
        return out
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
    /// For values of a fixed, public length (HMACs, digests). Tokens and passwords, whose length is secret, go
    /// through `secretEquals`.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0
            }
        }
    }

    /// Compares a presented credential with a secret without revealing the secret's length: both are hashed
    /// (SHA-256) and the digests compared in constant time.
    public static func secretEquals(_ presented: [UInt8], _ secret: [UInt8]) -> Bool {
        constantTimeEquals(sha256(presented), sha256(secret))
    }

    /// Verifies an Ed25519 signature through libcrypto's EVP interface.
    public static func ed25519Verify(publicKey: [UInt8], signature: [UInt8], message: [UInt8]) -> Bool {
        guard publicKey.count == 32, signature.count == 64 else { return false }
        guard
            let key = publicKey.withUnsafeBufferPointer({
                EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32)
            })
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
            let key = privateKey.withUnsafeBufferPointer({
                EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32)
            })
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
            let key = privateKey.withUnsafeBufferPointer({
                EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32)
            })
        else { return nil }
        defer { EVP_PKEY_free(key) }
        var out = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(key, &out, &length) == 1 else { return nil }
        return out
    }
}

extension Crypto {
    /// Verifies an RSA PKCS#1 v1.5 signature with a DER (SubjectPublicKeyInfo) public key.
    public static func rsaVerify(publicKeyDER: [UInt8], signature: [UInt8], message: [UInt8], digest: HMACAlgorithm)
        -> Bool
    {
        let key: OpaquePointer? = publicKeyDER.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_PUBKEY(nil, &p, buf.count)
        }
        guard let key else {
            ERR_clear_error()
            return false
        }
        defer { EVP_PKEY_free(key) }
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA, let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, digest.evp, nil, key) == 1 else {
            ERR_clear_error()
            return false
        }
        let rc = signature.withUnsafeBufferPointer { s in
            message.withUnsafeBufferPointer { m in
                var empty: UInt8 = 0
                return withUnsafePointer(to: &empty) { e in
                    EVP_DigestVerify(ctx, s.baseAddress ?? e, s.count, m.baseAddress ?? e, m.count)
                }
            }
        }
        ERR_clear_error()
        return rc == 1
    }

    /// Signs with an RSA private key in DER (PKCS#8 or PKCS#1); used by `sign` and tests.
    public static func rsaSign(privateKeyDER: [UInt8], message: [UInt8], digest: HMACAlgorithm) -> [UInt8]? {
        let key: OpaquePointer? = privateKeyDER.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_AutoPrivateKey(nil, &p, buf.count)
        }
        guard let key, let ctx = EVP_MD_CTX_new() else { return nil }
        defer {
            EVP_PKEY_free(key)
            EVP_MD_CTX_free(ctx)
        }
        guard EVP_DigestSignInit(ctx, nil, digest.evp, nil, key) == 1 else { return nil }
        var length = 0
        let ok = message.withUnsafeBufferPointer { m -> Bool in
            guard EVP_DigestSign(ctx, nil, &length, m.baseAddress, m.count) == 1 else { return false }
            return true
        }
        guard ok else { return nil }
        var sig = [UInt8](repeating: 0, count: length)
        let rc = message.withUnsafeBufferPointer { m in
            sig.withUnsafeMutableBufferPointer { s in
                EVP_DigestSign(ctx, s.baseAddress, &length, m.baseAddress, m.count)
            }
        }
        return rc == 1 ? Array(sig.prefix(length)) : nil
    }

    /// Generates an RSA key pair: (private key DER, public key DER). For tests and examples.
    public static func rsaGenerate(bits: Int32 = 2048) -> (privateDER: [UInt8], publicDER: [UInt8])? {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) == 1,
            EVP_PKEY_keygen(ctx, &key) == 1, let key
        else { return nil }
        defer { EVP_PKEY_free(key) }
        func der(_ encode: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32) -> [UInt8]? {
            let n = encode(nil)
            guard n > 0 else { return nil }
            var out = [UInt8](repeating: 0, count: Int(n))
            let written = out.withUnsafeMutableBufferPointer { buf -> Int32 in
                var p: UnsafeMutablePointer<UInt8>? = buf.baseAddress
                return encode(&p)
            }
            return written == n ? out : nil
        }
        guard let priv = der({ i2d_PrivateKey(key, $0) }), let pub = der({ i2d_PUBKEY(key, $0) }) else { return nil }
        return (priv, pub)
    }

    /// The DER bytes inside a PEM block (`-----BEGIN PUBLIC KEY-----` ...), or nil.
    public static func pemDecode(_ text: String) -> [UInt8]? {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") }),
            let end = lines.lastIndex(where: { $0.hasPrefix("-----END ") }), end > begin
        else { return nil }
        return ByteEncoding.fromBase64(lines[(begin + 1)..<end].joined())
    }

    /// A PEM block for DER bytes.
    public static func pemEncode(_ der: [UInt8], label: String) -> String {
        let b64 = ByteEncoding.base64(der)
        var lines: [String] = []
        var rest = Substring(b64)
        while !rest.isEmpty {
            lines.append(String(rest.prefix(64)))
            rest = rest.dropFirst(64)
        }
        return "-----BEGIN \(label)-----\n" + lines.joined(separator: "\n") + "\n-----END \(label)-----\n"
    }
}

extension Crypto {
    /// The outcome of a certificate-based signature check.
    public enum X509SignatureCheck: Sendable, Equatable {
        /// The signature verifies with the certificate's public key.
        case valid
        /// The signature does not verify (wrong key, altered content, wrong length).
        case invalid
        /// No check was possible: the certificate is unreadable or its key is not RSA of at least 2048 bits.
        case unusableCertificate
    }

    /// Where a point in time falls in a certificate's validity period.
    public enum X509Validity: Sendable, Equatable {
        case valid
        case notYetValid
        case expired
        case unreadable
    }

    /// Verifies an RSA PKCS#1 v1.5 signature over `message` with the public key of the PEM certificate,
    /// hashing with SHA-1 (`sha256 == false`) or SHA-256. Does not look at the validity period.
    public static func x509Verify(certificatePEM: [UInt8], sha256: Bool, signature: [UInt8], message: [UInt8])
        -> X509SignatureCheck
    {
        guard !certificatePEM.isEmpty else { return .unusableCertificate }
        guard !signature.isEmpty else { return .invalid }
        let rc = certificatePEM.withUnsafeBytes { pem in
            message.withUnsafeBufferPointer { m in
                signature.withUnsafeBufferPointer { s in
                    ctb_verify_x509_signature(
                        pem.baseAddress!.assumingMemoryBound(to: CChar.self), pem.count, sha256 ? 1 : 0,
                        m.baseAddress, m.count, s.baseAddress, s.count)
                }
            }
        }
        switch rc {
        case 1: return .valid
        case 0: return .invalid
        default: return .unusableCertificate
        }
    }

    /// The certificate's validity at `date` (`nil`: libcrypto's notion of now).
    public static func x509Validity(certificatePEM: [UInt8], at date: Date? = nil) -> X509Validity {
        guard !certificatePEM.isEmpty else { return .unreadable }
        let at: Int64 = date.map { Int64($0.timeIntervalSince1970.rounded(.down)) } ?? -1
        let rc = certificatePEM.withUnsafeBytes { pem in
            ctb_x509_validity(pem.baseAddress!.assumingMemoryBound(to: CChar.self), pem.count, at)
        }
        switch rc {
        case 1: return .valid
        case -2: return .notYetValid
        case -3: return .expired
        default: return .unreadable
        }
    }

    /// The certificate subject's single commonName, or nil (unreadable, none, several, or not UTF-8 clean).
    public static func x509SubjectCommonName(certificatePEM: [UInt8]) -> String? {
        guard !certificatePEM.isEmpty else { return nil }
        var out = [CChar](repeating: 0, count: 256)
        let n = certificatePEM.withUnsafeBytes { pem in
            out.withUnsafeMutableBufferPointer { o in
                ctb_x509_subject_cn(
                    pem.baseAddress!.assumingMemoryBound(to: CChar.self), pem.count, o.baseAddress, o.count)
            }
        }
        guard n >= 0 else { return nil }
        return String(decoding: out.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True when the bytes are a readable PEM certificate with an RSA key of at least 2048 bits.
    public static func x509IsUsableRSACertificate(_ certificatePEM: [UInt8]) -> Bool {
        guard !certificatePEM.isEmpty else { return false }
        return certificatePEM.withUnsafeBytes { pem in
            ctb_x509_is_usable_rsa_certificate(pem.baseAddress!.assumingMemoryBound(to: CChar.self), pem.count) == 1
        }
    }
}

/// Idle `EVP_MAC_CTX`s for HMAC, one list per algorithm, each context set to its digest once: a call takes one (or
/// makes one), gives it its key (unless it already has it: a context given no key keeps its last one, which saves
/// three more allocations when the same source's secret comes again), and puts it back. At most `keep` idle contexts are kept per algorithm (one per
/// thread that computes HMACs at once, in practice the event loops).
final class HMACContexts: @unchecked Sendable {
    static let shared = HMACContexts()
    static let keep = 16

    /// `EVP_MAC_fetch(nil, "HMAC", nil)`, kept for the process; nil if libcrypto has no HMAC (then `hmac` answers
    /// nil and the one-shot path is taken).
    private let mac: OpaquePointer?
    /// Idle contexts, indexed as `HMACAlgorithm.allCases`. The pointers are only used by the thread that took them.
    private let idle = Mutex<[[Idle]]>(HMACAlgorithm.allCases.map { _ in [] })

    /// An idle context and the key it was last given.
    private struct Idle: @unchecked Sendable {
        var key: [UInt8]
        var ctx: OpaquePointer
    }

    private init() { mac = EVP_MAC_fetch(nil, "HMAC", nil) }

    private static func slot(_ algorithm: HMACAlgorithm) -> Int {
        switch algorithm {
        case .sha1: 0
        case .sha256: 1
        case .sha512: 2
        }
    }

    /// A new context for `algorithm`, its digest set; nil on failure.
    private func make(_ algorithm: HMACAlgorithm) -> OpaquePointer? {
        guard let mac, let evp = algorithm.evp, let name = EVP_MD_get0_name(evp), let ctx = EVP_MAC_CTX_new(mac)
        else { return nil }
        let ok = "digest".withCString { key in
            var params = [
                OSSL_PARAM_construct_utf8_string(key, UnsafeMutablePointer(mutating: name), 0),
                OSSL_PARAM_construct_end(),
            ]
            return EVP_MAC_CTX_set_params(ctx, &params) == 1
        }
        guard ok else {
            EVP_MAC_CTX_free(ctx)
            return nil
        }
        return ctx
    }

    /// The HMAC, or nil when libcrypto failed (the context is then dropped). `key` must not be empty.
    func hmac(_ algorithm: HMACAlgorithm, key: [UInt8], data: [UInt8]) -> [UInt8]? {
        let slot = Self.slot(algorithm)
        let taken = idle.withLock { $0[slot].popLast() }
        guard let ctx = taken?.ctx ?? make(algorithm) else { return nil }
        // The context's key is the last one it was given; compared in constant time (a secret).
        let sameKey = taken.map { Crypto.constantTimeEquals($0.key, key) } ?? false
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: Int(EVP_MAX_MD_SIZE)) { o, initialized in
            var length = 0
            ok =
                (sameKey
                    ? EVP_MAC_init(ctx, nil, 0, nil) == 1
                    : key.withUnsafeBufferPointer { k in EVP_MAC_init(ctx, k.baseAddress, k.count, nil) == 1 })
                && data.withUnsafeBufferPointer { d in
                    // An empty body still needs a valid pointer.
                    var empty: UInt8 = 0
                    return withUnsafePointer(to: &empty) { EVP_MAC_update(ctx, d.baseAddress ?? $0, d.count) == 1 }
                }
                && EVP_MAC_final(ctx, o.baseAddress, &length, o.count) == 1 && length == algorithm.length
            initialized = ok ? length : 0
        }
        guard ok else {
            EVP_MAC_CTX_free(ctx)
            ERR_clear_error()
            return nil
        }
        let kept = idle.withLock { idle in
            guard idle[slot].count < Self.keep else { return false }
            idle[slot].append(Idle(key: key, ctx: ctx))
            return true
        }
        if !kept { EVP_MAC_CTX_free(ctx) }
        return out
    }
}
