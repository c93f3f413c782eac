import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A server run under `strace -f`, for what only its system calls show (how many connections
/// one wake-up accepts, which sockets get TCP_NODELAY, how a file leaves). `server.pid` is strace's;
/// `traced` is the server itself.
struct TracedServer {
    let server: ServerProcess
    let tracePath: String

    /// The server under strace (its one process with `--workers 0`).
    var traced: [pid_t] { server.processTree.filter { $0 != server.pid } }

    /// Stops the server by its own graceful stop (strace, told to stop, would detach and
    /// leave it running), waits for strace to exit once it has written the whole trace, and
    /// returns the trace's lines.
    func finish(sourceLocation: SourceLocation = #_sourceLocation) throws -> [Substring] {
        for pid in traced { kill(pid, SIGTERM) }
        let status = server.waitForExit(timeout: 10)
        #expect(status == .exited(0), "\(server.logTail)", sourceLocation: sourceLocation)
        server.stop()
        return try String(contentsOfFile: tracePath, encoding: .utf8).split(separator: "\n")
    }
}

extension ServerSuite {
    /// The test app in `mode` with `flags`, under `strace -f -e trace=SYSCALLS`.
    func startTracedTestApp(_ mode: ServerMode, syscalls: [String], _ flags: [String]) throws -> TracedServer {
        try startTraced(mode, syscalls: syscalls, command: [Binaries.testApp], flags)
    }

    /// `raptor-ev serve DIRECTORY` the same way.
    func startTracedStaticServer(
        _ mode: ServerMode, directory: String, syscalls: [String], _ flags: [String]
    ) throws -> TracedServer {
        try startTraced(mode, syscalls: syscalls, command: [Binaries.raptorEV, "serve", directory], flags)
    }

    private func startTraced(
        _ mode: ServerMode, syscalls: [String], command: [String], _ flags: [String]
    ) throws -> TracedServer {
        let trace = workDirectory.appendingPathComponent("syscalls.trace").path
        let server = try startServer(
            mode, binary: "/usr/bin/strace",
            leading: ["-f", "-qq", "-e", "trace=" + syscalls.joined(separator: ","), "-o", trace] + command,
            flags: flags)
        return TracedServer(server: server, tracePath: trace)
    }
}

/// One line of strace's output: `PID name(arguments) = RESULT`, or the two halves of a call
/// another thread interrupted (`<unfinished ...>`, `<... name resumed>`).
struct TracedCall {
    let line: Substring

    /// Whether the line is (the end of) a call to `name`.
    func isCall(_ name: String) -> Bool {
        line.contains(" \(name)(") || line.contains("<... \(name) resumed>")
    }

    /// What the call returned, nil while unfinished or for an error (`= -1 EAGAIN ...`).
    var result: Int? {
        guard let range = line.range(of: " = ", options: .backwards) else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }
}
