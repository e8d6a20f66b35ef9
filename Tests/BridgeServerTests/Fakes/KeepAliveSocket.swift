import Foundation

/// A blocking HTTP/1.1 client on one TCP connection, for tests that must know whether the bridge kept it open.
/// Use it off the cooperative pool (`offPool`).
final class KeepAliveSocket: @unchecked Sendable {
    let fd: Int32
    private var pending: [UInt8] = []

    struct Answer {
        var status: Int
        var head: String
        var body: String
    }

    init?(port: Int, readTimeout: Int = 10) {
        guard let fd = Self.connect(port: port) else { return nil }
        self.fd = fd
        var timeout = timeval(tv_sec: readTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// A TCP connection to 127.0.0.1:`port`, or nil.
    static func connect(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    deinit { close(fd) }

    /// Ends the connection in both directions (the descriptor is closed with the object).
    func shutdownBoth() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// Writes `bytes`; false when the connection is gone.
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// Reads one answer (head and a Content-Length body); nil when the connection ended or timed out first.
    func readAnswer() -> Answer? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let end = Self.find(Array("\r\n\r\n".utf8), in: pending) {
                let head = String(decoding: pending[0..<end], as: UTF8.self)
                var length = 0
                for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    length = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0
                }
                if pending.count >= end + 4 + length {
                    let body = String(decoding: pending[(end + 4)..<(end + 4 + length)], as: UTF8.self)
                    pending.removeFirst(end + 4 + length)
                    guard head.hasPrefix("HTTP/1.1 "), let status = Int(head.dropFirst(9).prefix(3)) else { return nil }
                    return Answer(status: status, head: head, body: body)
                }
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return nil }
            pending += buffer[0..<n]
        }
    }

    /// True when the peer has closed the connection (a read returns end of file within `seconds`).
    func closedByPeer(within seconds: Int) -> Bool {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
            return i
        }
        return nil
    }
}
