import AsyncHTTPClient
import BridgeCore
import Foundation
import NIOCore

/// Posts a signed webhook to a running bridge.
public enum BridgePoster {
    public struct Answer: Sendable {
        public var status: Int
        public var body: String
    }

    /// GETs `url` and returns the status (for `probe`).
    public static func get(url: String, timeout: TimeAmount = .seconds(3)) async throws -> Int {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: timeout)
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }

    public static func post(
        url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: TimeAmount = .seconds(30)
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (n, v) in headers { request.headers.add(name: n, value: v) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let buffer = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), body: String(buffer: buffer))
    }
}
