import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A worker accepts one connection each time epoll reports its listener (engine.c,
/// accept_cb), as nginx does: a flood of new connections cannot starve the ones it has,
/// and no accept4 is made only to find the queue empty. With connections queued behind an
/// inline handler that blocks the loop, strace shows one accept between two epoll_waits,
/// and not one accept4 that failed.
@Suite(.exclusive) final class AcceptBatchTests: ServerSuite {
    static let queued = 150

    /// The server's thread is asleep in the handler (usleep: nanosleep or clock_nanosleep).
    func isInHandler(_ pid: pid_t) -> Bool {
        let call = ProcFS.readText("/proc/\(pid)/syscall")?.split(separator: " ").first
        return call == "35" || call == "230"
    }

    @Test func oneAcceptPerWakeupAndNoneInVain() throws {
        let traced = try startTracedTestApp(
            ServerMode(.inline, .tcp), syscalls: ["accept4", "epoll_wait", "epoll_pwait"], ["--workers", "0"])
        let server = traced.server
        let pids = traced.traced
        try #require(pids.count == 1, "\(pids)")
        let blocker = try connect(server)
        try blocker.send(Requests.get("/slow?ms=2000"))
        let blocked = waitUntil(timeout: 10) { self.isInHandler(pids[0]) }
        try #require(blocked, "the handler never began")
        // Connected (queued by the kernel, backlog 1024) while the loop cannot accept.
        let clients = try (0..<Self.queued).map { _ in try connect(server) }
        #expect(try blocker.readResponse().bodyText == "slow done\n")
        // Every queued connection is then served.
        for client in clients {
            try client.send(Requests.get("/"))
            try expectEqual(client.readResponse().status, 200)
        }

        // The trace until now: the stop then takes what still waits in the queue (engine.c,
        // begin_stop) with accept4s of its own, the last of which finds the queue empty.
        let servedLines = try String(contentsOfFile: traced.tracePath, encoding: .utf8).split(separator: "\n").count

        // Runs of successful accept4 calls between two epoll_waits, and the failed ones.
        var runs: [Int] = [0]
        var failed: [Substring] = []
        for call in try traced.finish().prefix(servedLines).map(TracedCall.init) {
            if call.isCall("epoll_wait") || call.isCall("epoll_pwait") {
                if runs.last != 0 { runs.append(0) }
            } else if call.isCall("accept4"), call.result != nil {
                runs[runs.count - 1] += 1
            } else if call.isCall("accept4"), call.line.contains(" = -1 ") {
                failed.append(call.line)
            }
        }
        #expect(runs.reduce(0, +) == Self.queued + 1, "\(runs)")
        #expect(runs.max() == 1, "accepts per wake-up: \(runs)")
        #expect(failed.isEmpty, "\(failed)")
    }
}
