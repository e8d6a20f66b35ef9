import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// `BRIDGE_BODY_TIMEOUT`: a request must arrive whole (head and body) within `timeout` of its first byte, or it is
/// answered 408 and the connection is closed. The idle timeout restarts with every byte, so without this a client
/// that sends one byte every few seconds keeps its request, and whatever it holds, for ever.
///
/// It sits after the HTTP decoder (it sees request and response parts) and puts a `FirstByteHandler` in front of the
/// decoder, so the clock starts with the request's first byte, headers included. Once the request's end has arrived
/// the clock stops: a webhook being processed is never cut. When the time is up the body's reader gets an error (not
/// an end: a cut body must never pass for a whole one), the 408 is written and the connection closed.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The error the request body's reader gets when the time is up.
    struct Expired: Error {}

    private enum State {
        /// Between requests.
        case idle
        /// A request is arriving and nothing has been answered.
        case receiving
        /// The answer started before the request's end arrived (a refusal); the clock still runs for the rest.
        case answeredEarly(answerEnded: Bool)
        /// The request is whole and being processed; the clock is stopped.
        case processing
        /// The time was up; the connection is closing.
        case expired
    }

    let timeout: TimeAmount
    private var state = State.idle
    /// When the request in progress must have arrived whole; nil when none is arriving.
    private var deadline: NIODeadline?
    /// At most one timer per connection: it is not cancelled when a request arrives whole in time (a keep-alive
    /// connection's requests would each schedule and cancel one), it finds nothing to do when it fires, or sets
    /// itself again for the deadline of the request then arriving.
    private var timer: Scheduled<Void>?
    /// Bytes of the next request arrived while this one was processed (pipelining).
    private var nextRequestStarted = false

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        try? context.pipeline.syncOperations.addHandler(FirstByteHandler(owner: self), position: .first)
    }

    func handlerRemoved(context: ChannelHandlerContext) { cancelTimer() }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    /// Called by the `FirstByteHandler` for every read, before decoding.
    fileprivate func bytesArrived(context: ChannelHandlerContext) {
        switch state {
        case .idle: start(context)
        case .processing: nextRequestStarted = true
        default: break
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.expired, _): return
        case (.idle, .head): start(context)
        case (.receiving, .end):
            deadline = nil
            state = .processing
        case (.answeredEarly(let answerEnded), .end):
            deadline = nil
            state = .processing
            if answerEnded { requestDone(context) }
        default: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch (state, unwrapOutboundIn(data)) {
        case (.receiving, .head): state = .answeredEarly(answerEnded: false)
        case (.answeredEarly, .end): state = .answeredEarly(answerEnded: true)
        case (.processing, .end):
            context.write(data, promise: promise)
            requestDone(context)
            return
        default: break
        }
        context.write(data, promise: promise)
    }

    private func requestDone(_ context: ChannelHandlerContext) {
        state = .idle
        if nextRequestStarted {
            nextRequestStarted = false
            start(context)
        }
    }

    private func start(_ context: ChannelHandlerContext) {
        state = .receiving
        let due = NIODeadline.now() + timeout
        deadline = due
        if timer == nil { schedule(context, at: due) }
    }

    private func schedule(_ context: ChannelHandlerContext, at due: NIODeadline) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: due) {
            let (handler, context) = bound.value
            handler.timerFired(context)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        deadline = nil
    }

    private func timerFired(_ context: ChannelHandlerContext) {
        timer = nil
        guard let due = deadline else { return }
        if due > .now() {
            schedule(context, at: due)
            return
        }
        expire(context)
    }

    private func expire(_ context: ChannelHandlerContext) {
        deadline = nil
        let answer: Bool
        switch state {
        case .receiving: answer = true
        case .answeredEarly: answer = false
        default: return
        }
        state = .expired
        // The reader of the body fails instead of seeing an end.
        context.fireErrorCaught(Expired())
        if answer {
            let seconds = timeout.nanoseconds / 1_000_000_000
            let body = ByteBuffer(
                string: #"{"error":"the request was not complete within \#(seconds) seconds"}"# + "\n")
            var head = HTTPResponse(status: .requestTimeout)
            head.headerFields = [
                .contentType: "application/json", .connection: "close", .contentLength: "\(body.readableBytes)",
            ]
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }
}

/// Sits in front of the HTTP decoder and tells its `RequestDeadlineHandler` when bytes arrive.
private final class FirstByteHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    unowned let owner: RequestDeadlineHandler
    private var ownerContext: ChannelHandlerContext?

    init(owner: RequestDeadlineHandler) { self.owner = owner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if ownerContext == nil { ownerContext = try? context.pipeline.syncOperations.context(handler: owner) }
        if let ownerContext { owner.bytesArrived(context: ownerContext) }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) { ownerContext = nil }
}
