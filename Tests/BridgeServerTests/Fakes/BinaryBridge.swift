import Foundation
import Synchronization
import Testing

/// The real `cloudthread-bridge` binary, started on a loopback port with its own data directory, for tests about
/// the process itself (crash, SIGKILL, full disk, the HTTP edge).
final class BinaryBridge: Sendable {
    let dataDirectory: String
    let environment: [String: String]
    let mappings: String
    /// More `serve` arguments (for example `--database-url`).
    let extraArguments: [String]
    private let state = Mutex<(process: Process?, port: Int, output: String)>((nil, 0, ""))

    static var binary: String { packageRoot + "/.build/debug/cloudthread-bridge" }

    init(
        dataDirectory: String, mappings: String = packageRoot + "/mappings", environment: [String: String],
        extraArguments: [String] = []
    ) {
        self.extraArguments = extraArguments
        self.dataDirectory = dataDirectory
        self.mappings = mappings
        self.environment = environment
    }

    var port: Int { state.withLock { $0.port } }
    var pid: Int32 { state.withLock { $0.process?.processIdentifier ?? 0 } }
    var output: String { state.withLock { $0.output } }
    var isRunning: Bool { state.withLock { $0.process?.isRunning ?? false } }

    /// Starts the binary and waits (off the cooperative pool) until it listens.
    func start() async throws {
        try await offPool { try self.startBlocking() }
    }

    func startBlocking() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the executable first")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments =
            [
                "serve", "--host", "127.0.0.1", "--port", "0", "--mappings", mappings, "--data-dir", dataDirectory,
            ] + extraArguments
        process.environment = ["LOG_FORMAT": "text", "LOG_LEVEL": "info"].merging(environment) { _, b in b }
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        try process.run()
        state.withLock { $0 = (process, 0, "") }
        let handle = pipe.fileHandleForReading
        let deadline = Date().addingTimeInterval(30)
        var text = ""
        while Date() < deadline {
            let data = handle.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
            if let range = text.range(of: #"listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                let port = Int(text[range].split(separator: ":").last ?? "") ?? 0
                state.withLock {
                    $0.port = port
                    $0.output = text
                }
                // Keep draining the pipe so the process never blocks on a full one.
                let drained = Thread { [self] in
                    while true {
                        let more = handle.availableData
                        if more.isEmpty { return }
                        self.state.withLock { $0.output += String(decoding: more, as: UTF8.self) }
                    }
                }
                drained.start()
                return
            }
        }
        Issue.record("the bridge did not start: \(text)")
    }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        guard let process = state.withLock({ $0.process }) else { return -1 }
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Stops (SIGTERM by default) and waits for the exit, off the cooperative pool.
    func stopOffPool(signal: Int32 = SIGTERM) async -> Int32 {
        (try? await offPool { self.stop(signal: signal) }) ?? -1
    }

    /// User and system CPU seconds used so far (Linux /proc).
    func cpuSeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // Fields after the command: state is index 0, utime 11, stime 12 (clock ticks).
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// A minimal HTTP/1.1 client on a blocking socket that can write the whole request before reading anything (as
/// Python's urllib does), to test how the bridge treats such clients.
enum RawHTTP {
    struct Answer {
        var status: Int
        var text: String
        var seconds: Double
    }

    static func sendOffPool(port: Int, head: String, body: [UInt8], readTimeout: Double = 10) async -> Answer? {
        (try? await offPool { send(port: port, head: head, body: body, readTimeout: readTimeout) }) ?? nil
    }

    static func send(port: Int, head: String, body: [UInt8], readTimeout: Double = 10) -> Answer? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        var timeout = timeval(tv_sec: Int(readTimeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let started = Date()
        let request = Array(head.utf8) + body
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // the bridge closed the connection
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received += buffer[0..<n]
            if let text = String(bytes: received, encoding: .utf8), text.contains("\r\n\r\n"),
                let length = contentLength(text), let split = text.range(of: "\r\n\r\n"),
                text[split.upperBound...].utf8.count >= length
            {
                break
            }
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let line = text.split(separator: "\r\n").first, line.hasPrefix("HTTP/1.1 "),
            let status = Int(line.dropFirst(9).prefix(3))
        else { return nil }
        return Answer(status: status, text: text, seconds: Date().timeIntervalSince(started))
    }

    private static func contentLength(_ text: String) -> Int? {
        for line in text.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            return Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}

/// SIGKILL and wait, off the cooperative pool.
func offPoolStop(_ bridge: BinaryBridge) async {
    _ = try? await offPool { bridge.stop(signal: SIGKILL) }
}
