import Foundation

/// Resolves team names to ids through `GET /teams`, caching the answer.
public actor TeamDirectory {
    public enum Lookup: Sendable, Equatable {
        case found(Int)
        case unknown(known: [String])
        case unavailable(CloudthreadOutcome)
    }

    let client: any CloudthreadClient
    let ttl: TimeInterval
    private var byName: [String: Int] = [:]
    private var names: [String] = []
    private var fetchedAt: Date?

    public init(client: any CloudthreadClient, ttl: TimeInterval = 600) {
        self.client = client
        self.ttl = ttl
    }

    /// Looks a name up (case-insensitively); refreshes when the cache is older than `ttl`, or older than a
    /// minute and the name is unknown (a team created since).
    public func resolve(_ name: String, now: Date = Date()) async -> Lookup {
        let key = name.lowercased()
        let age = fetchedAt.map { now.timeIntervalSince($0) } ?? .infinity
        if age < ttl, let id = byName[key] { return .found(id) }
        if age >= ttl || (byName[key] == nil && age >= 60) {
            switch await client.teams() {
            case .success(let teams):
                byName = Dictionary(teams.map { ($0.name.lowercased(), $0.id) }, uniquingKeysWith: { a, _ in a })
                names = teams.map(\.name).sorted()
                fetchedAt = now
            case .failure(let error):
                // A refused API key is said at once (everything pauses); other failures fall back to the cache.
                if case .unauthorized = error.outcome { return .unavailable(error.outcome) }
                if let id = byName[key] { return .found(id) }
                return .unavailable(error.outcome)
            }
        }
        if let id = byName[key] { return .found(id) }
        return .unknown(known: names)
    }
}
