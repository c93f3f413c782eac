import Foundation
import XCTest

/// Without `--log-format`, the access log follows the error log's choice: Common Log
/// Format when standard error is a terminal (a person reads both), JSON lines otherwise.
class AccessLogFormatTestCase: ServerTestCase {
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

    /// `raptor-testapp --access-log` in this class's mode with no `--log-format`, its
    /// standard error on a terminal or in a file.
    func startWithoutLogFormat(onTerminal: Bool) throws -> ServerProcess {
        var arguments = [
            Binaries.testApp, "--access-log", "--bind", "tcp://127.0.0.1:0", "--threads", String(threads),
            "--shutdown-timeout", "3s",
        ]
        if threads == 0 { arguments += ["--workers", "0"] }
        if onTerminal { arguments = ["python3", "-c", Self.onTerminal] + arguments }
        return try ServerProcess(
            binary: onTerminal ? "/usr/bin/env" : Binaries.testApp,
            arguments: onTerminal ? arguments : Array(arguments.dropFirst()), outputDirectory: workDirectory)
    }

    /// One request, then the server's access log line for it.
    func accessLogLine(_ server: ServerProcess) throws -> String {
        XCTAssertEqual(try exchange(server, Requests.get("/request?n=5")).status, 200)
        XCTAssertTrue(waitUntil(timeout: 5) { server.standardOutput.contains("\n") }, server.standardOutput)
        return String(server.standardOutput.split(separator: "\n").first ?? "")
    }

    func accessLogIsCommonLogFormatOnATerminal() throws {
        let server = try startWithoutLogFormat(onTerminal: true)
        defer { server.stop() }
        let line = try accessLogLine(server)
        XCTAssertFalse(server.standardError.hasPrefix("{"), "the error log is text on a terminal")
        let pattern = #"^127\.0\.0\.1 - - \[[^\]]+\] "GET /request\?n=5 HTTP/1\.1" 200 \d+$"#
        XCTAssertNotNil(
            line.range(of: pattern, options: .regularExpression),
            "standard error is a terminal: the access log must be Common Log Format, got \(line)")
    }

    func accessLogIsJSONWhenStandardErrorIsNotATerminal() throws {
        let server = try startWithoutLogFormat(onTerminal: false)
        defer { server.stop() }
        let line = try accessLogLine(server)
        XCTAssertTrue(server.standardError.hasPrefix("{"), "the error log is JSON off a terminal")
        let entry = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        XCTAssertEqual(entry?["path"] as? String, "/request?n=5", "not a JSON access log line: \(line)")
    }
}

final class AccessLogFormatPoolTests: AccessLogFormatTestCase {
    override class var threads: Int { 5 }
    func testAccessLogIsCommonLogFormatOnATerminal() throws { try accessLogIsCommonLogFormatOnATerminal() }
    func testAccessLogIsJSONWhenStandardErrorIsNotATerminal() throws {
        try accessLogIsJSONWhenStandardErrorIsNotATerminal()
    }
}

final class AccessLogFormatInlineTests: AccessLogFormatTestCase {
    override class var threads: Int { 0 }
    func testAccessLogIsCommonLogFormatOnATerminal() throws { try accessLogIsCommonLogFormatOnATerminal() }
    func testAccessLogIsJSONWhenStandardErrorIsNotATerminal() throws {
        try accessLogIsJSONWhenStandardErrorIsNotATerminal()
    }
}
