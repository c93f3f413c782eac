import Foundation
import Testing

/// Without `--log-format`, the access log follows the error log's choice: Common Log
/// Format when standard error is a terminal (a person reads both), JSON lines otherwise.
@Suite(.concurrent) final class AccessLogFormatTests: ServerSuite {
    /// Runs a command with its standard error on a pseudo-terminal (raw mode, so lines stay
    /// as written) and copies what the terminal receives to its own standard error; stdout
    /// is left as it is. It stays in the caller's process group and passes TERM on.
    static let onTerminal = """
        import os, pty, signal, sys, tty
        master, slave = pty.openpty()
        tty.setraw(slave)
        child = os.fork()
        if child == 0:
            os.dup2(slave, 2)
            os.close(master)
            os.close(slave)
            os.execv(sys.argv[1], sys.argv[1:])
        os.close(slave)
        signal.signal(signal.SIGTERM, lambda number, frame: os.kill(child, signal.SIGTERM))
        while True:
            try:
                data = os.read(master, 65536)
            except InterruptedError:
                continue
            except OSError:
                break
            if not data:
                break
            os.write(2, data)
        status = os.waitpid(child, 0)[1]
        sys.exit(os.waitstatus_to_exitcode(status) & 0xff)
        """

    /// `raptor-testapp --access-log` in `mode` with no `--log-format`, its standard error
    /// on a terminal or in a file. (Started here, not by `startTestApp`, which adds
    /// `--log-format json`; the caller stops it.)
    func startWithoutLogFormat(_ mode: ServerMode, onTerminal: Bool) throws -> ServerProcess {
        var arguments =
            [Binaries.testApp, "--access-log", "--shutdown-timeout", "3s"]
            + (try mode.transport.serverFlags(directory: workDirectory)) + mode.dispatch.serverFlags(besides: [])
        if onTerminal { arguments = ["python3", "-c", Self.onTerminal] + arguments }
        return try ServerProcess(
            binary: onTerminal ? "/usr/bin/env" : Binaries.testApp,
            arguments: onTerminal ? arguments : Array(arguments.dropFirst()), transport: mode.transport,
            waitingForWorkers: mode.dispatch == .pool, outputDirectory: workDirectory)
    }

    /// One request, then the server's access log line for it.
    func accessLogLine(_ server: ServerProcess) throws -> String {
        try expectEqual(exchange(server, Requests.get("/request?n=5")).status, 200)
        #expect(waitUntil(timeout: 5) { server.standardOutput.contains("\n") }, "\(server.standardOutput)")
        return String(server.standardOutput.split(separator: "\n").first ?? "")
    }

    @Test(arguments: ServerMode.all)
    func accessLogIsCommonLogFormatOnATerminal(_ mode: ServerMode) throws {
        let server = try startWithoutLogFormat(mode, onTerminal: true)
        defer { server.stop() }
        let line = try accessLogLine(server)
        #expect(!server.standardError.hasPrefix("{"), "the error log is text on a terminal")
        let pattern = #"^127\.0\.0\.1 - - \[[^\]]+\] "GET /request\?n=5 HTTP/1\.1" 200 \d+$"#
        #expect(
            line.range(of: pattern, options: .regularExpression) != nil,
            "standard error is a terminal: the access log must be Common Log Format, got \(line)")
    }

    @Test(arguments: ServerMode.all)
    func accessLogIsJSONWhenStandardErrorIsNotATerminal(_ mode: ServerMode) throws {
        let server = try startWithoutLogFormat(mode, onTerminal: false)
        defer { server.stop() }
        let line = try accessLogLine(server)
        #expect(server.standardError.hasPrefix("{"), "the error log is JSON off a terminal")
        let entry = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(entry?["path"] as? String == "/request?n=5", "not a JSON access log line: \(line)")
    }
}
