import Foundation

/// The PostgreSQL the tests use, found or started once per test process:
/// - `BRIDGE_TEST_DATABASE_URL` when it is set (with `BRIDGE_TEST_PG_BIN` and `BRIDGE_TEST_PG_DATA` for the tests
///   that stop and restart the server, as scripts/ci-postgres.sh exports them);
/// - otherwise a throwaway cluster the kit starts itself when `initdb` and `pg_ctl` are on the PATH (or in
///   /usr/lib/postgresql/*/bin): a temporary directory, a free loopback port, trust authentication, run as the user
///   postgres when the tests run as root (initdb refuses root); it is stopped and removed when the process exits;
/// - otherwise nothing, and the reason is printed once: the PostgreSQL tests are skipped.
public enum TestPostgres {
    /// A cluster the tests may stop and start: its binaries, its directory (`data/` and `log` inside) and port.
    public struct Cluster: Sendable {
        public let bin: String
        public let directory: String
        public let port: Int
        /// The user the cluster runs as when the tests run as root.
        public let owner: String?
    }

    struct Setup: Sendable {
        var url: String?
        var cluster: Cluster?
        var skipReason: String?
    }

    static let setup: Setup = {
        let setup = findOrStart()
        if let reason = setup.skipReason {
            FileHandle.standardError.write(Data("note: the PostgreSQL tests are SKIPPED: \(reason)\n".utf8))
        } else if setup.cluster == nil {
            FileHandle.standardError.write(
                Data(
                    ("note: BRIDGE_TEST_DATABASE_URL is set without BRIDGE_TEST_PG_BIN and BRIDGE_TEST_PG_DATA: the "
                        + "tests that stop and restart PostgreSQL are SKIPPED\n").utf8))
        } else if ProcessInfo.processInfo.environment["BRIDGE_TEST_DATABASE_URL"] == nil {
            FileHandle.standardError.write(
                Data("note: the PostgreSQL tests run on a throwaway cluster on 127.0.0.1:\(port(setup))\n".utf8))
        }
        return setup
    }()

    private static func port(_ setup: Setup) -> Int { setup.cluster?.port ?? 0 }

    /// The base URL of the test database, nil when there is none (the PostgreSQL tests are skipped).
    public static var url: String? { setup.url }
    /// The cluster behind `url`, when the tests may stop and restart it.
    public static var cluster: Cluster? { setup.cluster }
    /// Why the PostgreSQL tests are skipped, nil when they run.
    public static var skipReason: String? { setup.skipReason }
    public static var isAvailable: Bool { setup.url != nil }

    private static func findOrStart() -> Setup {
        let env = ProcessInfo.processInfo.environment
        if let url = env["BRIDGE_TEST_DATABASE_URL"], !url.isEmpty {
            var cluster: Cluster?
            if let bin = env["BRIDGE_TEST_PG_BIN"], let data = env["BRIDGE_TEST_PG_DATA"], !bin.isEmpty, !data.isEmpty {
                cluster = Cluster(
                    bin: bin, directory: data, port: URLComponents(string: url)?.port ?? 5432,
                    owner: getuid() == 0 ? "postgres" : nil)
            }
            return Setup(url: url, cluster: cluster, skipReason: nil)
        }
        guard let bin = binaries(env["PATH"] ?? "") else {
            return Setup(
                skipReason: "BRIDGE_TEST_DATABASE_URL is not set, and initdb and pg_ctl are neither on the PATH nor "
                    + "in /usr/lib/postgresql/*/bin")
        }
        do {
            let cluster = try start(bin: bin)
            return Setup(
                url: "postgres://postgres@127.0.0.1:\(cluster.port)/postgres?sslmode=disable", cluster: cluster)
        } catch {
            return Setup(skipReason: "a throwaway cluster could not be started with \(bin): \(error)")
        }
    }

    /// The directory holding `initdb` and `pg_ctl`: the PATH first (symbolic links resolved, so that the cluster's
    /// other tools are found beside them), then Debian's /usr/lib/postgresql/<version>/bin, newest first.
    static func binaries(_ path: String) -> String? {
        let fm = FileManager.default
        func hasBoth(_ dir: String) -> Bool {
            fm.isExecutableFile(atPath: dir + "/initdb") && fm.isExecutableFile(atPath: dir + "/pg_ctl")
        }
        for dir in path.split(separator: ":").map(String.init) where hasBoth(dir) {
            let real = (try? fm.destinationOfSymbolicLink(atPath: dir + "/initdb")).map {
                $0.hasPrefix("/") ? $0 : dir + "/" + $0
            }
            if let real, hasBoth((real as NSString).deletingLastPathComponent) {
                return (real as NSString).deletingLastPathComponent
            }
            return dir
        }
        let versions = (try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for v in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) where hasBoth("/usr/lib/postgresql/\(v)/bin")
        {
            return "/usr/lib/postgresql/\(v)/bin"
        }
        return nil
    }

    struct StartFailure: Error, CustomStringConvertible {
        let description: String
    }

    private static func start(bin: String) throws -> Cluster {
        var template = Array((NSTemporaryDirectory() + "bridge-pg-test.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw StartFailure(description: "no temporary directory") }
        let directory = String(cString: made)
        var owner: String?
        if getuid() == 0 {
            guard let pw = getpwnam("postgres") else {
                throw StartFailure(description: "the tests run as root and there is no user postgres to run initdb")
            }
            guard chown(directory, pw.pointee.pw_uid, pw.pointee.pw_gid) == 0 else {
                throw StartFailure(description: "\(directory) could not be given to the user postgres")
            }
            owner = "postgres"
        }
        let port = try freePort()
        let cluster = Cluster(bin: bin, directory: directory, port: port, owner: owner)
        guard
            cluster.run(
                [bin + "/initdb", "-D", directory + "/data", "-U", "postgres", "-A", "trust", "--no-sync"],
                timeout: 120) == 0
        else { throw StartFailure(description: "initdb failed") }
        let conf = """

            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(directory)'
            max_connections = 300
            fsync = off

            """
        guard let handle = FileHandle(forWritingAtPath: directory + "/data/postgresql.conf") else {
            throw StartFailure(description: "postgresql.conf could not be opened")
        }
        handle.seekToEndOfFile()
        handle.write(Data(conf.utf8))
        handle.closeFile()
        guard cluster.pgCtl(["-w", "start"], timeout: 60) == 0 else {
            throw StartFailure(description: "pg_ctl start failed (see \(directory)/log)")
        }
        started = cluster
        atexit {
            guard let cluster = TestPostgres.started else { return }
            _ = cluster.pgCtl(["-m", "immediate", "-w", "stop"], timeout: 30)
            try? FileManager.default.removeItem(atPath: cluster.directory)
        }
        return cluster
    }

    /// The cluster this process started (stopped at exit).
    nonisolated(unsafe) static var started: Cluster?

    /// A loopback port nothing listens on now.
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartFailure(description: "no socket for a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Bool in
                bind(fd, p, length) == 0 && getsockname(fd, p, &length) == 0
            }
        }
        guard bound else { throw StartFailure(description: "no free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

extension TestPostgres.Cluster {
    /// `pg_ctl` on this cluster as its owner; its exit status, nil when it did not end within `timeout` seconds.
    public func pgCtl(_ arguments: [String], timeout: Double) -> Int32? {
        run([bin + "/pg_ctl", "-D", directory + "/data", "-l", directory + "/log"] + arguments, timeout: timeout)
    }

    /// Runs `command` as the cluster's owner (output discarded); its exit status, nil when it could not start or
    /// did not end within `timeout` seconds (it is then killed). Reaps the child itself with `waitpid`: Foundation's
    /// `Process.waitUntilExit` was seen never returning for a `runuser … pg_ctl` that had exited.
    public func run(_ command: [String], timeout: Double) -> Int32? {
        let argv = owner.map { ["/usr/sbin/runuser", "-u", $0, "--"] + command } ?? command
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let args = argv.map { strdup($0) } + [nil]
        let env = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in args { free(p) }
            for p in env { free(p) }
        }
        var pid: pid_t = 0
        guard posix_spawn(&pid, argv[0], &actions, nil, args, env) == 0 else { return nil }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
            if r < 0 && errno == ECHILD { return -1 }
            if Date() >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return nil
            }
            usleep(20_000)
        }
    }
}
