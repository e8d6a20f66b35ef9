import BridgeDelivery
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Serves the webhook routes (`POST /hooks/{source}[/{path}]`, `PUT /hooks/{source}`) on the event loop of their
/// connection, without the router: the body is collected as it arrives, the webhook is processed once it is whole,
/// and the answer is written when the commit completes. Every other request is passed on to the router untouched.
///
/// It sits after Hummingbird's connection-state handler (which therefore sees every request and answer: idle timeout
/// and graceful shutdown treat webhooks like any request) and before the router's channel. Answers leave in the
/// order requests came: a webhook that arrives while the router has not answered an earlier request waits, and so
/// does whatever arrives while a webhook is processed; reading stops while anything waits.
///
/// The rules (what is refused before the body, the size limit, bodies in progress per client, the processing cap)
/// are `WebhookEdge`'s. A refused request's body is read and dropped up to the size limit, so a client that writes
/// its whole body before reading still gets the answer, and the connection stays open; past the limit it is read up
/// to a bound and the connection is closed after the answer.
final class WebhookChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        /// Between requests.
        case idle
        /// A request for another route is passed on to the router, up to its end.
        case passing
        /// A webhook's body is arriving (`webhook`, `body`).
        case receiving
        /// A refused request's body is read and dropped (`discard`); the answer is written when it ends.
        case discarding
        /// The webhook is whole and being processed: what arrives waits.
        case processing
        /// A webhook arrived while the router has not answered an earlier request: it and what follows wait.
        case waitingForRouter
        /// The connection is closing: nothing more is read or answered.
        case closed
    }

    private struct Webhook {
        var target: WebhookEdge.Target
        var head: HTTPRequest
        var client: String?
        var started: ContinuousClock.Instant
        var close: Bool
    }

    private struct Discard {
        var answer: WebhookEdge.Answer
        var seen: Int
        /// False once the body is over the size limit: the connection is closed after the answer.
        var keepOpen: Bool
    }

    let edge: WebhookEdge
    private var state = State.idle
    private var webhook: Webhook?
    private var body: [UInt8] = []
    private var discard: Discard?
    /// Requests passed to the router whose answers have not ended yet.
    private var routerInFlight = 0
    /// Parts that arrived while they could not be handled yet; reading is paused while any wait.
    private var waiting = CircularBuffer<HTTPRequestPart>()
    private var readPending = false
    /// The peer closed its side while a webhook was in progress: told to the router once it is answered.
    private var inputClosedPending = false
    private var peer: String?
    /// The connection's event loop as a task executor: a webhook is processed there.
    let executor: EventLoopTaskExecutor

    init(edge: WebhookEdge, loop: any EventLoop) {
        self.edge = edge
        self.executor = EventLoopTaskExecutor.of(loop)
    }

    func handlerAdded(context: ChannelHandlerContext) { peer = context.channel.remoteAddress?.ipAddress }

    func channelActive(context: ChannelHandlerContext) {
        peer = context.channel.remoteAddress?.ipAddress
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        leaveBodySlot()
        state = .closed
        waiting.removeAll()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { leaveBodySlot() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if !waiting.isEmpty {
            waiting.append(part)
            return
        }
        handle(part, context: context)
    }

    private var isHolding: Bool {
        switch state {
        case .processing, .waitingForRouter: true
        default: false
        }
    }

    private func handle(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch state {
        case .closed:
            return
        case .processing, .waitingForRouter:
            waiting.append(part)
        case .passing:
            if case .end = part { state = .idle }
            context.fireChannelRead(wrapInboundOut(part))
        case .idle:
            guard case .head(let head) = part, let target = WebhookEdge.target(head) else {
                if case .head = part {
                    routerInFlight += 1
                    state = .passing
                }
                context.fireChannelRead(wrapInboundOut(part))
                return
            }
            if routerInFlight > 0 {
                state = .waitingForRouter
                waiting.prepend(part)
                return
            }
            begin(target, head: head)
        case .receiving:
            switch part {
            case .head:
                break  // the decoder never sends a head before the end
            case .body(let chunk):
                if body.count + chunk.readableBytes > edge.maxBodyBytes {
                    leaveBodySlot()
                    if let w = webhook { edge.metrics.webhook(source: w.target.source, outcome: "too_large") }
                    discard = Discard(
                        answer: edge.tooLarge, seen: body.count + chunk.readableBytes, keepOpen: false)
                    body = []
                    webhook = nil
                    state = .discarding
                    checkDrainBound(context: context)
                } else {
                    body.append(contentsOf: chunk.readableBytesView)
                }
            case .end:
                leaveBodySlot()
                finishBody(context: context)
            }
        case .discarding:
            guard var d = discard else { return }
            switch part {
            case .head:
                break
            case .body(let chunk):
                d.seen += chunk.readableBytes
                if d.seen > edge.maxBodyBytes { d.keepOpen = false }
                discard = d
                checkDrainBound(context: context)
            case .end:
                discard = nil
                state = d.keepOpen ? .idle : .closed
                answer(d.answer, close: !d.keepOpen, context: context)
            }
        }
    }

    private func begin(_ target: WebhookEdge.Target, head: HTTPRequest) {
        let client = edge.clientAddress(peer: peer, headers: head.headerFields)
        if let refusal = edge.admit(target, head: head, client: client) {
            discard = Discard(answer: refusal, seen: 0, keepOpen: true)
            state = .discarding
            return
        }
        let close = head.headerFields[.connection].map { $0.lowercased().contains("close") } ?? false
        webhook = Webhook(target: target, head: head, client: client, started: .now, close: close)
        if let length = head.headerFields[.contentLength].flatMap(Int.init), length > 0 {
            // A declared length is a promise, not bytes: reserve at most 64 KiB ahead of what arrives.
            body.reserveCapacity(min(length, edge.maxBodyBytes, 64 * 1024))
        }
        state = .receiving
    }

    /// A refused body read past the bound: answered, and the connection closed.
    private func checkDrainBound(context: ChannelHandlerContext) {
        guard let d = discard, d.seen > edge.drainLimit else { return }
        discard = nil
        state = .closed
        answer(d.answer, close: true, context: context)
    }

    private func finishBody(context: ChannelHandlerContext) {
        guard let w = webhook else { return }
        webhook = nil
        let body = self.body
        self.body = []
        if let busy = edge.enterProcessing(w.target) {
            state = w.close ? .closed : .idle
            answer(busy, close: w.close, context: context)
            return
        }
        state = .processing
        let edge = self.edge
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        Task(executorPreference: executor) {
            let answer = await edge.process(w.target, head: w.head, body: body, client: w.client, started: w.started)
            // The task runs on the connection's loop (its executor preference); the hop is only a safeguard (and the
            // only case that needs a closure).
            if loop.inEventLoop {
                let (handler, context) = bound.value
                handler.processed(answer, close: w.close, context: context)
            } else {
                loop.execute {
                    let (handler, context) = bound.value
                    handler.processed(answer, close: w.close, context: context)
                }
            }
        }
    }

    private func processed(_ answer: WebhookEdge.Answer, close: Bool, context: ChannelHandlerContext) {
        guard case .processing = state else { return }  // the connection closed meanwhile
        state = close ? .closed : .idle
        self.answer(answer, close: close, context: context)
        resume(context: context)
    }

    private func answer(_ answer: WebhookEdge.Answer, close: Bool, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(edge.head(answer, close: close))), promise: nil)
        context.write(wrapOutboundOut(.body(answer.body)), promise: nil)
        if close {
            waiting.removeAll()
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// Handles what waited, until something holds again; then reads on.
    private func resume(context: ChannelHandlerContext) {
        if case .waitingForRouter = state { state = .idle }
        var replayed = false
        while !isHolding, let part = waiting.popFirst() {
            handle(part, context: context)
            replayed = true
        }
        // The router's channel hands what it read to its reader at the end of a read: so must a replay.
        if replayed { context.fireChannelReadComplete() }
        guard !isHolding, waiting.isEmpty else { return }
        if inputClosedPending, !isBusy {
            inputClosedPending = false
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        if readPending {
            readPending = false
            context.read()
        }
    }

    /// A webhook is being received, refused or processed.
    private var isBusy: Bool {
        switch state {
        case .receiving, .discarding, .processing, .waitingForRouter: true
        default: false
        }
    }

    /// Leaves the bodies-in-progress slot a webhook holds while its body arrives (`receiving`, and only then). Every
    /// caller moves the state on from `receiving` right after.
    private func leaveBodySlot() {
        if case .receiving = state, let w = webhook { edge.bodies.leave(w.client) }
    }

    /// Reading goes on while a webhook is processed, and stops only once something waits: a pause and a resume per
    /// webhook were two `epoll_ctl` calls each (NIO stops watching a socket it is not asked to read). What a client
    /// sends early (the next request, or the end of its side) is read once, kept in `waiting`, and reading then
    /// stops: at most one read's worth is held, as when it arrives with the body.
    func read(context: ChannelHandlerContext) {
        if !waiting.isEmpty {
            readPending = true
            return
        }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // The router's answers: one ended lets a waiting webhook go once it was the last in flight.
        if case .end = unwrapOutboundIn(data) {
            // (An answer to a request that never had a head, such as the 400 for bytes that are not HTTP, counts none.)
            routerInFlight = max(0, routerInFlight - 1)
            context.write(data, promise: promise)
            if routerInFlight == 0, case .waitingForRouter = state { resume(context: context) }
            return
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event, isBusy || !waiting.isEmpty {
            inputClosedPending = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch state {
        case .receiving, .discarding:
            // BRIDGE_BODY_TIMEOUT (the deadline handler answers 408 and closes), or a broken request: this request
            // is over and is not answered here.
            if error is RequestDeadlineHandler.Expired {
                if case .receiving = state, let w = webhook {
                    edge.metrics.webhook(source: w.target.source, outcome: "timeout")
                }
                leaveBodySlot()
                webhook = nil
                body = []
                discard = nil
                state = .closed
                return
            }
            leaveBodySlot()
            state = .closed
        default:
            break
        }
        context.fireErrorCaught(error)
    }
}

/// Hummingbird's HTTP/1 channel with `WebhookChannelHandler` after its connection-state handler.
struct BridgeHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let edge: WebhookEdge

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let state = try operations.handler(type: HTTPConnectionStateHandler.self)
            try operations.addHandler(
                WebhookChannelHandler(edge: edge, loop: channel.eventLoop), position: .after(state))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async { await inner.handle(value: value, logger: logger) }
}
