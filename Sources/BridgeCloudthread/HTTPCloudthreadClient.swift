import AsyncHTTPClient
import BridgeCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// `CloudthreadClient` over async-http-client. Every request carries `x-api-key`.
public struct HTTPCloudthreadClient: CloudthreadClient {
    let httpClient: HTTPClient
    let baseURL: String
    let apiKey: Secret
    let timeout: TimeAmount

    public init(httpClient: HTTPClient, baseURL: String, apiKey: Secret, timeout: TimeAmount = .seconds(30)) {
        self.httpClient = httpClient
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.timeout = timeout
    }

    public func postEvents(_ request: EventsRequest) async -> CloudthreadOutcome {
        await send(method: .POST, path: "/events", body: request.jsonBytes).outcome
    }

    public func ingest(_ request: IngestRequest) async -> CloudthreadOutcome {
        await send(method: .POST, path: "/streams/ingest", body: request.jsonBytes).outcome
    }

    public func teams() async -> Result<[CloudthreadTeam], CloudthreadClientError> {
        let (outcome, body) = await send(method: .GET, path: "/teams", body: nil)
        guard outcome == .accepted else { return .failure(CloudthreadClientError(outcome: outcome)) }
        guard let teams = CloudthreadJSON.decodeTeams(body) else {
            return .failure(
                CloudthreadClientError(
                    outcome: .retry(
                        reason: "GET /teams answered with a body that is not a list of teams", retryAfter: nil)))
        }
        return .success(teams)
    }

    public func get(path: String, query: [(String, String)]) async -> (outcome: CloudthreadOutcome, body: [UInt8]) {
        var components = URLComponents()
        components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
        let encoded = components.percentEncodedQuery.map { "?" + $0 } ?? ""
        return await send(method: .GET, path: path + encoded, body: nil)
    }

    func send(method: HTTPMethod, path: String, body: [UInt8]?) async -> (outcome: CloudthreadOutcome, body: [UInt8]) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "x-api-key", value: apiKey.string)
        request.headers.add(name: "User-Agent", value: "cloudthread-bridge")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await httpClient.execute(request, timeout: timeout)
            let buffer = try await response.body.collect(upTo: 4 << 20)
            let bytes = Array(buffer.readableBytesView)
            let retryAfter = response.headers.first(name: "Retry-After").flatMap {
                HTTPCloudthreadClient.parseRetryAfter($0)
            }
            let outcome = CloudthreadOutcome.classify(
                status: Int(response.status.code), body: String(decoding: bytes, as: UTF8.self), retryAfter: retryAfter)
            return (outcome, bytes)
        } catch {
            return (.retry(reason: "network error: \(HTTPCloudthreadClient.describe(error))", retryAfter: nil), [])
        }
    }

    /// A network failure as words (never a Swift type's debug description alone).
    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError { return e.shortDescription }
        let text = "\(error)"
        if text.contains("Connection refused") { return "the connection was refused" }
        if text.localizedCaseInsensitiveContains("timed out") || text.contains("Timeout") {
            return "the connection timed out"
        }
        switch String(describing: Swift.type(of: error)) {
        case "NIOConnectionError": return "the connection was refused or the host could not be reached"
        case "ChannelError": return "the connection was closed"
        default: return "the connection failed"
        }
    }

    /// `Retry-After` as delta-seconds or an HTTP date.
    public static func parseRetryAfter(_ value: String, now: Date = Date()) -> TimeInterval? {
        let v = value.trimmingCharacters(in: .whitespaces)
        if let n = Double(v), n >= 0 { return n }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: v) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }
}
