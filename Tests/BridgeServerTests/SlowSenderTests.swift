import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing

@testable import BridgeCore
@testable import BridgeServer
@testable import BridgeVerification

/// Issue 18, point 3: `BRIDGE_BODY_TIMEOUT`, processing slots only while processing, and bodies in progress per
/// client address.
@Suite("Slow senders", .serialized)
struct SlowSenderTests {
    /// Connections that send their head and then one body byte every `every` seconds, all from one thread.
    final class Tricklers: @unchecked Sendable {
        struct Ended {
            var seconds: Double
            var status: Int?
        }

        let port: Int
        let head: String
        var sockets: [(fd: Int32, opened: Date, received: [UInt8], ended: Ended?)] = []

        init(port: Int, head: String) {
            self.port = port
            self.head = head
        }

        func open(_ count: Int) {
            for _ in 0..<count {
                guard let socket = KeepAliveSocket.connect(port: port) else { continue }
                let bytes = Array(head.utf8)
                _ = bytes.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                sockets.append((socket, Date(), [], nil))
            }
        }

        /// Trickles until every connection has ended or `limit` seconds have passed.
        func run(every: Double, limit: Double) {
            let start = Date()
            var lastByte = Date.distantPast
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date().timeIntervalSince(start) < limit, sockets.contains(where: { $0.ended == nil }) {
                let sendNow = Date().timeIntervalSince(lastByte) >= every
                if sendNow { lastByte = Date() }
                for i in sockets.indices where sockets[i].ended == nil {
                    let fd = sockets[i].fd
                    var closed = false
                    while true {
                        let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                        if n > 0 {
                            sockets[i].received += buffer[0..<n]
                            continue
                        }
                        closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
                        break
                    }
                    if !closed && sendNow {
                        var byte = UInt8(ascii: "a")
                        closed = send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) != 1
                    }
                    if closed {
                        let text = String(decoding: sockets[i].received, as: UTF8.self)
                        let status = text.hasPrefix("HTTP/1.1 ") ? Int(text.dropFirst(9).prefix(3)) : nil
                        sockets[i].ended = Ended(
                            seconds: Date().timeIntervalSince(sockets[i].opened), status: status)
                        close(fd)
                    }
                }
                usleep(100_000)
            }
            for s in sockets where s.ended == nil { close(s.fd) }
        }
    }

    static func harness(bodyTimeout: Int, configure: @escaping @Sendable (inout BridgeConfiguration) -> Void = { _ in })
        async throws -> BridgeHarness
    {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) { c in
            c.bodyTimeout = bodyTimeout
            c.trustedProxies = TrustedProxies([CIDR("127.0.0.1")!])
            configure(&c)
        }
        try await h.start()
        return h
    }

    static func signedHeaders(_ body: [UInt8], client: String) -> [(String, String)] {
        let signature =
            "sha256=" + ByteEncoding.hex(Crypto.hmac(.sha256, key: Array(BridgeHarness.secret.utf8), data: body))
        return [
            ("Content-Type", "application/json"), ("X-GitHub-Event", "deployment_status"),
            ("X-Hub-Signature-256", signature), ("X-GitHub-Delivery", UUID().uuidString), ("X-Forwarded-For", client),
        ]
    }

    @Test func threeHundredTricklersFromOneAddressDoNotKeepAnotherOut() async throws {
        let timeout = 4
        let h = try await Self.harness(bodyTimeout: timeout)
        let tricklers = Tricklers(
            port: h.port,
            head:
                "POST /hooks/deploys HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.5\r\n"
                + "X-GitHub-Event: deployment_status\r\nX-Hub-Signature-256: sha256=\(String(repeating: "0", count: 64))"
                + "\r\nContent-Length: 1000\r\n\r\n")
        try await offPool { tricklers.open(300) }
        #expect(tricklers.sockets.count == 300)
        let running = Task { try await offPool { tricklers.run(every: 2, limit: Double(timeout) + 15) } }
        try await Task.sleep(for: .milliseconds(300))
        let started = ContinuousClock.now
        let body = deployBody()
        let answer = try await h.post(
            "/hooks/deploys", headers: Self.signedHeaders(body, client: "198.51.100.7"), body: body)
        let took = ContinuousClock.now - started
        #expect(answer.status == 202, "\(answer.text)")
        #expect(took < .seconds(3), "\(took)")
        try await running.value
        let ended = tricklers.sockets.compactMap(\.ended)
        #expect(ended.count == 300, "\(300 - ended.count) connections were still open")
        let longest = ended.map(\.seconds).max() ?? 0
        #expect(longest < Double(timeout) + 3, "a trickling connection lasted \(longest) s")
        // Those that were let in are answered 408; those over the per-address cap got 429 or 408.
        #expect(ended.filter { $0.status == 408 }.count >= 32, "\(ended.map { $0.status ?? 0 })")
        #expect(ended.allSatisfy { $0.status == 408 || $0.status == 429 }, "\(ended.map { $0.status ?? 0 })")
        // A cut body is neither stored nor counted as a forgery.
        #expect(try await h.bridge.store.deliveries(limit: 10, source: nil).count == 1)
        #expect(h.bridge.ingestor.refusals.total == 0)
        await h.finish()
    }

    @Test func slowHeadersAreCutToo() async throws {
        let h = try await Self.harness(bodyTimeout: 2)
        let port = h.port
        let result = try await offPool { () -> (Double, Int?) in
            let tricklers = Tricklers(port: port, head: "POST /hooks/deploys HTTP/1.1\r\nHost: x\r\n")
            tricklers.open(1)
            tricklers.run(every: 0.5, limit: 10)
            let ended = tricklers.sockets.first?.ended
            return (ended?.seconds ?? 99, ended?.status)
        }
        #expect(result.0 < 5, "\(result.0) s")
        #expect(result.1 == 408 || result.1 == nil)
        await h.finish()
    }

    @Test func theClockStartsWithEachRequestNotTheConnection() async throws {
        let h = try await Self.harness(bodyTimeout: 2)
        let port = h.port
        @Sendable func request(_ service: String) -> [UInt8] {
            let body = deployBody(service: service)
            var text = "POST /hooks/deploys HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n"
            for (n, v) in Self.signedHeaders(body, client: "192.0.2.1") { text += "\(n): \(v)\r\n" }
            return Array((text + "\r\n").utf8) + body
        }
        let statuses = try await offPool { () -> [Int?] in
            guard let socket = KeepAliveSocket(port: port) else { return [] }
            var statuses: [Int?] = []
            for (i, service) in ["one", "two", "three"].enumerated() {
                if i > 0 { usleep(1_500_000) }  // 3 s in all on one connection, idle between requests
                socket.write(request(service))
                statuses.append(socket.readAnswer()?.status)
            }
            // A request whose body stops half-way: 408, then the connection is closed.
            let half = request("four")
            socket.write(Array(half.prefix(half.count - 10)))
            statuses.append(socket.readAnswer()?.status)
            statuses.append(socket.closedByPeer(within: 2) ? -1 : 0)
            return statuses
        }
        #expect(statuses == [202, 202, 202, 408, -1], "\(statuses)")
        #expect(try await h.bridge.store.deliveries(limit: 10, source: nil).count == 3)
        await h.finish()
    }

    @Test func aBodyStillArrivingHoldsNoProcessingSlotAndEachAddressHasItsCap() async throws {
        let h = try await Self.harness(bodyTimeout: 30) { c in
            c.maxConcurrent = 1
            c.maxBodiesPerClient = 2
        }
        let port = h.port
        let head =
            "POST /hooks/deploys HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.5\r\nContent-Length: 100\r\n\r\n"
        let sockets = try await offPool { () -> [KeepAliveSocket] in
            (0..<2).compactMap { _ in
                let s = KeepAliveSocket(port: port)
                s?.write(Array(head.utf8))
                return s
            }
        }
        #expect(sockets.count == 2)
        try await Task.sleep(for: .milliseconds(200))
        // Another address: the slot is free, the bodies in progress are the other address's.
        let body = deployBody()
        #expect(
            try await h.post("/hooks/deploys", headers: Self.signedHeaders(body, client: "198.51.100.7"), body: body)
                .status == 202)
        // The same address, over its cap of 2 bodies in progress.
        let third = try await h.post(
            "/hooks/deploys", headers: Self.signedHeaders(deployBody(service: "x"), client: "203.0.113.5"),
            body: deployBody(service: "x"))
        #expect(third.status == 429, "\(third.text)")
        #expect(third.text.contains("still sending their bodies"))
        // Once one finishes, the address may send again.
        let finished = try await offPool { () -> Int? in
            sockets[0].write([UInt8](repeating: UInt8(ascii: "x"), count: 100))
            return sockets[0].readAnswer()?.status
        }
        #expect(finished == 401 || finished == 400)
        #expect(
            try await h.post(
                "/hooks/deploys", headers: Self.signedHeaders(deployBody(service: "y"), client: "203.0.113.5"),
                body: deployBody(service: "y")
            ).status == 202)
        for socket in sockets { socket.shutdownBoth() }
        await h.finish()
    }

    @Test func theSettingsAreRead() throws {
        let c = try BridgeConfiguration.fromEnvironment([
            "BRIDGE_BODY_TIMEOUT": "12", "BRIDGE_MAX_BODIES_PER_CLIENT": "5",
        ])
        #expect(c.bodyTimeout == 12)
        #expect(c.maxBodiesPerClient == 5)
        #expect(try BridgeConfiguration.fromEnvironment([:]).bodyTimeout == 30)
        #expect(throws: ConfigurationError.self) {
            try BridgeConfiguration.fromEnvironment(["BRIDGE_BODY_TIMEOUT": "0"])
        }
    }
}
