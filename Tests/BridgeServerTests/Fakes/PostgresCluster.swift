import BridgeStoreTestKit
import Foundation
import Testing

/// The throwaway PostgreSQL cluster of the tests (`TestPostgres`: started by the test kit, or the one
/// scripts/ci-postgres.sh names), for tests that stop or restart the server. Every wait is bounded and runs off the
/// cooperative pool.
struct PostgresCluster: Sendable {
    let cluster: TestPostgres.Cluster
    var port: Int { cluster.port }

    /// The cluster of the tests, or nil when there is none they may restart.
    static var fromEnvironment: PostgresCluster? { TestPostgres.cluster.map(PostgresCluster.init) }

    static var isAvailable: Bool { fromEnvironment != nil }

    /// `pg_ctl` as the cluster's owner (the kit's `TestPostgres.Cluster.pgCtl`), off the cooperative pool; its exit
    /// status, nil on timeout. The server's options live in the cluster's postgresql.conf, so `start` brings back
    /// the same server.
    func pgCtl(_ arguments: [String], timeout: Double = 60) async -> Int32? {
        (try? await offPool { [cluster] in cluster.pgCtl(arguments, timeout: timeout) }) ?? nil
    }

    func stop() async -> Int32? { await pgCtl(["-m", "fast", "-w", "stop"]) }
    func start() async -> Int32? { await pgCtl(["-w", "start"]) }
    func restart() async -> Int32? { await pgCtl(["-m", "fast", "-w", "restart"]) }

    /// True when the server accepts connections (`pg_isready`).
    func isReady() async -> Bool {
        await ChildProcess.run([cluster.bin + "/pg_isready", "-q", "-h", "127.0.0.1", "-p", "\(port)"], timeout: 10)
            == 0
    }

    /// Starts the server again if it is not accepting connections (every exit path of a test that stops it).
    func ensureRunning() async {
        if await isReady() { return }
        _ = await start()
        if await !isReady() { Issue.record("PostgreSQL could not be started again: later tests will fail") }
    }
}

/// A child process with a bounded wait. Foundation's `Process.waitUntilExit` was seen never returning for a
/// `runuser … pg_ctl restart` that had exited (a zombie nobody reaped), which hung the load test; this reaps the
/// child itself with `waitpid` and kills it when the time is up.
enum ChildProcess {
    /// Runs `argv` (output discarded) and returns its exit status (-1: it ended but its status was reaped
    /// elsewhere), or nil when it could not start or did not end within `timeout`.
    static func run(_ argv: [String], timeout: Double) async -> Int32? {
        (try? await offPool { runBlocking(argv, timeout: timeout) }) ?? nil
    }

    static func runBlocking(_ argv: [String], timeout: Double) -> Int32? {
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
            if r == pid { return exitStatus(status) }
            // Reaped by someone else (Foundation's child handler): it ended, with a status nobody can tell.
            if r < 0 && errno == ECHILD { return -1 }
            if Date() >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return nil
            }
            usleep(20_000)
        }
    }

    private static func exitStatus(_ status: Int32) -> Int32 {
        // WIFEXITED / WEXITSTATUS, which Swift does not import as functions.
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// True when `pid` has exited and waits to be reaped.
    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}

extension BinaryBridge {
    /// Sends `signal` and waits at most `timeout` seconds for the process to end (off the pool); SIGKILLs it
    /// after that. True when it ended by itself within the time.
    func stopWithin(_ timeout: Double, signal: Int32 = SIGTERM) async -> Bool {
        (try? await offPool { self.stopWithinBlocking(timeout, signal: signal) }) ?? false
    }

    func stopWithinBlocking(_ timeout: Double, signal: Int32) -> Bool {
        let pid = self.pid
        guard pid > 0 else { return true }
        func ended(within seconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if !isRunning || ChildProcess.isZombie(pid) { return true }
                usleep(20_000)
            }
            return !isRunning || ChildProcess.isZombie(pid)
        }
        if isRunning { kill(pid, signal) }
        if ended(within: timeout) { return true }
        kill(pid, SIGKILL)
        _ = ended(within: 5)
        return false
    }
}
