import BridgeCore
import BridgeDelivery
import BridgeVerification
import Foundation
import HTTPTypes
import NIOCore
import Synchronization

/// The rules of the webhook edge, shared by every connection: which requests are webhooks, what is refused before
/// the body is read (unknown or disabled source, an address over the refusal limit, too many bodies in progress
/// from one address, a declared length over the limit), the size limit while the body arrives, the cap on webhooks
/// in progress once a body is whole, and the answers. `WebhookChannelHandler` applies them to the bytes of one
/// connection; `RequestDeadlineHandler` ends a request that does not arrive whole within `BRIDGE_BODY_TIMEOUT`.
final class WebhookEdge: Sendable {
    let ingestor: Ingestor
    let metrics: BridgeMetrics
    let maxBodyBytes: Int
    let concurrency: ConcurrencyLimit
    let bodies: BodiesInProgress
    /// Duplicates per source since start-up (they are not stored), for the console.
    let duplicates: DuplicateCounter
    let proxies: TrustedProxies
    let serverName: String

    init(
        ingestor: Ingestor, metrics: BridgeMetrics, maxBodyBytes: Int, concurrency: ConcurrencyLimit,
        bodies: BodiesInProgress, duplicates: DuplicateCounter, proxies: TrustedProxies,
        serverName: String = "cloudthread-bridge"
    ) {
        self.ingestor = ingestor
        self.metrics = metrics
        self.maxBodyBytes = maxBodyBytes
        self.concurrency = concurrency
        self.bodies = bodies
        self.duplicates = duplicates
        self.proxies = proxies
        self.serverName = serverName
    }

    /// How much of a refused body is read and discarded before the connection is cut: enough for any honest
    /// client that writes first, bounded so a refused request cannot make the bridge read without end.
    var drainLimit: Int { max(4 * maxBodyBytes, 16 * 1024 * 1024) }

    /// A webhook request: `POST /hooks/{source}`, `POST /hooks/{source}/{path...}` or `PUT /hooks/{source}`.
    struct Target {
        var source: String
        var subpath: String
        var path: String
        var query: String?
    }

    /// The webhook a request head addresses, or nil when the request is for another route (the router answers it).
    /// Empty path components are ignored and components are percent-decoded, as the router does.
    static func target(_ head: HTTPRequest) -> Target? {
        guard head.method == .post || head.method == .put, let full = head.path else { return nil }
        let slash = UInt8(ascii: "/")
        let mark = full.utf8.firstIndex(of: UInt8(ascii: "?"))
        let path = full[..<(mark ?? full.endIndex)]
        let query = mark.map { String(full[full.utf8.index(after: $0)...]) }
        // The common case, `/hooks/{source}[/{path}]` with nothing to decode, is read without splitting.
        if path.utf8.starts(with: "/hooks/".utf8), !path.utf8.contains(UInt8(ascii: "%")) {
            let rest = path[path.utf8.index(path.startIndex, offsetBy: 7)...]
            let end = rest.utf8.firstIndex(of: slash) ?? rest.endIndex
            var subpath = rest[end...]
            while subpath.utf8.first == slash { subpath = subpath.dropFirst() }
            while subpath.utf8.last == slash { subpath = subpath.dropLast() }
            var previous: UInt8 = 0
            var doubled = false
            for byte in subpath.utf8 {
                if byte == slash && previous == slash { doubled = true }
                previous = byte
            }
            if end > rest.startIndex, !doubled {
                if head.method == .put && !subpath.isEmpty { return nil }
                return Target(
                    source: String(rest[..<end]), subpath: String(subpath), path: String(path), query: query)
            }
        }
        var components = path.split(separator: "/", omittingEmptySubsequences: true)
        guard components.count >= 2, components[0] == "hooks" else { return nil }
        if head.method == .put && components.count != 2 { return nil }
        components = components.map { $0.contains("%") ? Substring($0.removingPercentEncoding ?? String($0)) : $0 }
        return Target(
            source: String(components[1]), subpath: components.dropFirst(2).joined(separator: "/"),
            path: String(path), query: query)
    }

    /// The client behind a trusted proxy, else the peer.
    func clientAddress(peer: String?, headers: HTTPFields) -> String? {
        guard !proxies.networks.isEmpty else { return peer }
        return proxies.client(
            peer: peer, forwarded: headers[values: ClientAddressMiddleware.forwarded],
            forwardedFor: headers[values: ClientAddressMiddleware.xForwardedFor])
    }

    /// What a webhook is refused for before its body is read; nil when its body may be read. A nil answer has
    /// entered `bodies` for the client: the caller leaves it when the body is whole or the request ends.
    func admit(_ target: Target, head: HTTPRequest, client: String?) -> Answer? {
        if let outcome = ingestor.precheck(source: target.source, clientAddress: client) {
            return Self.answer(outcome)
        }
        guard bodies.enter(client) else {
            metrics.webhook(source: target.source, outcome: IngestOutcome.Kind.rateLimited.rawValue)
            let outcome = IngestOutcome(
                .rateLimited,
                body: .object([
                    "error": .string(
                        "too many webhooks from this address are still sending their bodies; retry shortly")
                ]), retryAfter: 1)
            return Self.answer(outcome)
        }
        if let length = head.headerFields[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            bodies.leave(client)
            metrics.webhook(source: target.source, outcome: "too_large")
            return tooLarge
        }
        return nil
    }

    var tooLarge: Answer {
        Self.answer(
            IngestOutcome(.badRequest, body: .object(["error": .string("body larger than \(maxBodyBytes) bytes")])),
            status: 413)
    }

    /// The answer when the webhook cannot take a processing slot (`BRIDGE_MAX_CONCURRENT`); nil when it took one
    /// (the caller leaves it when the webhook is answered).
    func enterProcessing(_ target: Target) -> Answer? {
        guard concurrency.enter() else {
            metrics.webhook(source: target.source, outcome: IngestOutcome.Kind.overloaded.rawValue)
            return Self.answer(
                IngestOutcome(
                    .overloaded, body: .object(["error": .string("too many webhooks in progress; retry shortly")]),
                    retryAfter: 1))
        }
        return nil
    }

    /// Verifies, maps and stores a webhook whose body is whole, and leaves its processing slot.
    func process(_ target: Target, head: HTTPRequest, body: [UInt8], client: String?, started: ContinuousClock.Instant)
        async -> Answer
    {
        defer { concurrency.leave() }
        var headers = HeaderBag(capacity: head.headerFields.count)
        for field in head.headerFields { headers.add(field.name.rawName, field.value) }
        let incoming = IncomingRequest(
            source: target.source, method: head.method.rawValue, path: target.path,
            query: IncomingRequest.parseQuery(target.query), headers: headers, body: body, clientAddress: client,
            receivedAt: Date())
        let outcome = await ingestor.ingest(incoming, subpath: target.subpath)
        if outcome.kind == .duplicate { duplicates.add(source: target.source) }
        let elapsed = (ContinuousClock.now - started).components
        metrics.observeWebhookDuration(Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
        return Self.answer(outcome)
    }

    /// An answer: status, JSON body, `Retry-After`.
    struct Answer: Sendable {
        var status: Int
        var body: ByteBuffer
        var retryAfter: Int?
    }

    static func answer(_ outcome: IngestOutcome, status: Int? = nil) -> Answer {
        // The JSON and its newline written once, then copied into the buffer (the text, the joined string and the
        // buffer each cost an allocation before).
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128)
        outcome.body.write(into: &bytes)
        bytes.append(UInt8(ascii: "\n"))
        return Answer(
            status: status ?? outcome.statusCode, body: ByteBuffer(bytes: bytes), retryAfter: outcome.retryAfter)
    }

    /// The response head of `answer`; `close` adds `Connection: close`.
    func head(_ answer: Answer, close: Bool) -> HTTPResponse {
        var fields = HTTPFields()
        fields.reserveCapacity(5)
        fields[.contentType] = "application/json"
        fields[.contentLength] = String(answer.body.readableBytes)
        fields[.server] = serverName
        if let wait = answer.retryAfter { fields[.retryAfter] = String(wait) }
        if close { fields[.connection] = "close" }
        return HTTPResponse(status: .init(code: answer.status), headerFields: fields)
    }
}

/// Runs a task's jobs on one event loop: a webhook's processing runs on its connection's loop, so the answer is
/// written without a hop to another thread (and its store call resumes there).
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// One executor per event loop, made on first use.
    private static let executors = Mutex([ObjectIdentifier: EventLoopTaskExecutor]())

    static func of(_ loop: any EventLoop) -> EventLoopTaskExecutor {
        executors.withLock { all in
            if let e = all[ObjectIdentifier(loop)] { return e }
            let e = EventLoopTaskExecutor(loop)
            all[ObjectIdentifier(loop)] = e
            return e
        }
    }
}
