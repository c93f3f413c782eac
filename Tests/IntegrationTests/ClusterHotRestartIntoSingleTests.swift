import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A hot restart whose new image runs one process (`--single`, or `--workers 0`: the build
/// installed since runs so): the exec'd image inherits the old workers as its children,
/// stops them and must reap them, or they stay zombies (state Z) for its whole life.
@Suite(.exclusive) final class ClusterHotRestartIntoSingleTests: ClusterSuite {
    /// The children of `pid`'s main thread (the thread that forked the workers before the
    /// exec), each with its state letter from /proc/PID/stat ("?" once gone).
    func children(of pid: pid_t) -> [(pid: pid_t, state: String)] {
        let listed = ProcFS.readText("/proc/\(pid)/task/\(pid)/children") ?? ""
        return listed.split(separator: " ").compactMap { pid_t($0) }.map { child in
            let stat = ProcFS.readText("/proc/\(child)/stat") ?? ""
            let state = stat.lastIndex(of: ")").flatMap { stat[stat.index(after: $0)...].split(separator: " ").first }
            return (child, state.map(String.init) ?? "?")
        }
    }

    /// The signals blocked in `pid`'s main thread (SigBlk in /proc/PID/status).
    func blockedSignals(_ pid: pid_t) -> [Int32] {
        let status = ProcFS.readText("/proc/\(pid)/status") ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }),
            let mask = UInt64(line.dropFirst("SigBlk:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return [-1] }
        return (1...64).filter { mask & (1 << UInt64($0 - 1)) != 0 }.map(Int32.init)
    }

    @Test func oldWorkersAreReapedNotLeftAsZombies() throws {
        let installed = directory.appendingPathComponent("app").path
        try FileManager.default.copyItem(atPath: Binaries.testApp, toPath: installed)
        let server = try startCluster(["-w", "2"], binary: installed)
        let before = waitForRunningWorkers(2, phase: 0)

        // A request in flight on an old worker: it drains it after the hand-over.
        let slow = try RawClient(port: server.port, timeout: 10)
        defer { slow.close() }
        try slow.send(Requests.get("/slow?ms=800"))

        // The new build runs one process (same pid, same arguments, plus --single).
        try installBuild(at: installed, script: "exec '\(Binaries.testApp)' \"$@\" --single")
        server.process.signal(SIGHUP)
        waitForEvents(server, "worker booted") { $0["pid"] as? String == "\(server.pid)" }
        #expect(try slow.readResponse().status == 200, "the old worker's request in flight")

        var left = children(of: server.pid)
        let reaped = waitUntil(timeout: 10, interval: 0.05) {
            left = children(of: server.pid)
            return left.isEmpty
        }
        #expect(reaped, "children left (pid, state): \(left); old workers \(before.values.sorted())")
        waitForEvents(server, "old worker exited (hot restart)", count: 2, timeout: 5)
        // Asked once the old workers are gone: until then a new connection may reach one
        // of their listening sockets (the reuseport slots this image does not serve;
        // docs/cluster.md), which a slow machine or ASan once made this request do.
        #expect(get(server.port) == 200, "the one process serves: \(server.logTail)")
        // The master's blocked signals came across exec: only INT and TERM (the engine's) stay.
        #expect(Set(blockedSignals(server.pid)).isSubset(of: [SIGINT, SIGTERM]), "\(blockedSignals(server.pid))")
        #expect(server.stop(timeout: 10) == .exited(0), "\(server.logTail)")
    }
}
