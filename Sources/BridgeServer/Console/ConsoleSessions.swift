import BridgeCore
import BridgeVerification
import Foundation
import Synchronization

/// The console's sign-in sessions, in memory only: random 32-byte ids, each with its own CSRF token and an expiry,
/// at most `capacity` at once (the one closest to expiry gives way to a new one). A restart signs everyone out.
final class ConsoleSessions: Sendable {
    struct Session: Sendable {
        var csrf: [UInt8]
        var expires: Date
    }

    /// How long a session lasts (and the cookie's `Max-Age`): 12 hours.
    static let lifetime: TimeInterval = 12 * 3600
    let capacity: Int
    /// Sessions are looked up by an HMAC of their id under a key of this process, so the lookup's timing says
    /// nothing about the ids.
    private let lookupKey: [UInt8]
    private let sessions = Mutex<[[UInt8]: Session]>([:])

    init(capacity: Int = 100) {
        self.capacity = max(1, capacity)
        self.lookupKey = ConsoleSessions.randomBytes(32)
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    private func key(_ id: String) -> [UInt8] { Crypto.hmac(.sha256, key: lookupKey, data: Array(id.utf8)) }

    /// Starts a session; returns its id (for the cookie) and its CSRF token, both hex.
    func create(now: Date) -> (id: String, csrf: String) {
        let id = ByteEncoding.hex(ConsoleSessions.randomBytes(32))
        let csrf = ConsoleSessions.randomBytes(32)
        sessions.withLock { all in
            all = all.filter { $0.value.expires > now }
            while all.count >= capacity, let oldest = all.min(by: { $0.value.expires < $1.value.expires }) {
                all.removeValue(forKey: oldest.key)
            }
            all[key(id)] = Session(csrf: csrf, expires: now.addingTimeInterval(ConsoleSessions.lifetime))
        }
        return (id, ByteEncoding.hex(csrf))
    }

    /// The CSRF token of a live session, nil when `id` is unknown or expired.
    func csrf(for id: String, now: Date) -> String? {
        let k = key(id)
        return sessions.withLock { all in
            guard let s = all[k] else { return nil }
            guard s.expires > now else {
                all.removeValue(forKey: k)
                return nil
            }
            return ByteEncoding.hex(s.csrf)
        }
    }

    /// True when `presented` is the session's CSRF token (compared in constant time).
    func checkCSRF(id: String, presented: String, now: Date) -> Bool {
        guard let expected = csrf(for: id, now: now) else { return false }
        return Crypto.constantTimeEquals(Crypto.sha256(Array(presented.utf8)), Crypto.sha256(Array(expected.utf8)))
    }

    func end(_ id: String) { _ = sessions.withLock { $0.removeValue(forKey: key(id)) } }

    var count: Int { sessions.withLock { $0.count } }
}
