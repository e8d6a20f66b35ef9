import Hummingbird
import Logging

// The Hummingbird 2 floor: one route that reads the whole body (up to 1 MiB, as the bridge's limit) and answers
// 204. Usage: floor-hummingbird PORT. Listens on 127.0.0.1 with Hummingbird's defaults (one event loop per core).
#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif

guard CommandLine.arguments.count == 2, let port = Int(CommandLine.arguments[1]) else {
    print("usage: floor-hummingbird PORT")
    exit(2)
}
var logger = Logger(label: "floor-hummingbird")
logger.logLevel = .warning
let router = Router()
router.post("/hooks/:source") { request, _ -> HTTPResponse.Status in
    _ = try await request.body.collect(upTo: 1 << 20)
    return .noContent
}
let app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: port)),
    logger: logger
)
try await app.runService()
