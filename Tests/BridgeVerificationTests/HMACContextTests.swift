import BridgeCore
import Testing

@testable import BridgeVerification

/// `Crypto.hmac` goes through reused libcrypto contexts (`HMACContexts`) instead of the one-shot `HMAC()`: it must give
/// the same MAC for every algorithm, key and body, however the calls interleave.
@Suite("HMAC through reused contexts")
struct HMACContextTests {
    static func bytes(_ count: Int, _ random: inout SeededRandom) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    }

    @Test func givesWhatTheOneShotHMACGives() {
        var random = SeededRandom(seed: 47)
        var last: [[UInt8]] = HMACAlgorithm.allCases.map { _ in [] }
        for round in 0..<3000 {
            let a = round % HMACAlgorithm.allCases.count
            let algorithm = HMACAlgorithm.allCases[a]
            // Keys shorter and longer than a block (64 bytes, 128 for SHA-512), the empty key, empty bodies; every
            // other time the algorithm's last key again (a kept context then keeps its key).
            let key = random.next() % 2 == 0 ? last[a] : Self.bytes(Int(random.next() % 200), &random)
            last[a] = key
            let data = Self.bytes(round % 7 == 0 ? 0 : Int(random.next() % 3000), &random)
            let mac = Crypto.hmac(algorithm, key: key, data: data)
            #expect(
                mac == Crypto.hmacOneShot(algorithm, key: key, data: data), "\(algorithm) \(key.count) \(data.count)")
            #expect(mac.count == algorithm.length)
        }
    }

    @Test func knownAnswer() {
        // RFC 4231, test case 2.
        let mac = Crypto.hmac(.sha256, key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(ByteEncoding.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func concurrentCallsGetTheirOwnMAC() async {
        await withTaskGroup(of: Bool.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var random = SeededRandom(seed: UInt64(100 + task))
                    var same = true
                    for _ in 0..<300 {
                        let key = Self.bytes(1 + Int(random.next() % 100), &random)
                        let data = Self.bytes(Int(random.next() % 2000), &random)
                        same =
                            same
                            && Crypto.hmac(.sha256, key: key, data: data)
                                == Crypto.hmacOneShot(.sha256, key: key, data: data)
                    }
                    return same
                }
            }
            for await same in group { #expect(same) }
        }
    }
}
