import NIOCore
import NIOHTTP1
import NIOPosix

// The SwiftNIO HTTP/1 floor: NIO's HTTP/1 server pipeline and one handler that reads the request to its end and
// answers 204, keeping the connection open. Usage: floor-nio PORT. One event loop per core, on 127.0.0.1.
#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif

final class NoContentHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private var keepAlive = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            // One header, as every real server sends some: wrk hands a response to its script only when it has
            // headers, and 204 must not carry Content-Length.
            var headers = HTTPHeaders([("server", "floor-nio")])
            if !keepAlive { headers.add(name: "connection", value: "close") }
            let head = HTTPResponseHead(version: .http1_1, status: .noContent, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}

guard CommandLine.arguments.count == 2, let port = Int(CommandLine.arguments[1]) else {
    print("usage: floor-nio PORT")
    exit(2)
}
let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(ChannelOptions.backlog, value: 256)
    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(NoContentHandler())
        }
    }
    .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
let server = try await bootstrap.bind(host: "127.0.0.1", port: port).get()
try await server.closeFuture.get()
