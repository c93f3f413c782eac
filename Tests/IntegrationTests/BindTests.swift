import Foundation
import XCTest

/// `--bind` beyond IPv4 TCP: an IPv6 address, and Unix sockets (a stale socket file is
/// replaced, a live one or a file that is not a socket refused, the file removed at exit).
/// The dispatch mode does not matter here: one class, the default pool.
final class BindTests: CommandLineTestCase {
    func testServesOnIPv6Loopback() throws {
        let server = try startTestApp(["--bind", "tcp://[::1]:0"])
        let result = try ExternalClient.curl(
            ["-sS", "-g", "http://[::1]:\(server.port)/request?n=v6"], outputDirectory: workDirectory)
        XCTAssertTrue(result.succeeded, "\(result)")
        XCTAssertTrue(result.standardOutput.contains("query=n=v6"), result.standardOutput)
        XCTAssertTrue(result.standardOutput.contains("remote=::1 "), result.standardOutput)
    }

    func testUnixSocketReplacesAStaleFileRefusesALiveOneAndIsRemovedAtExit() throws {
        let path = workDirectory.appendingPathComponent("raptor.sock").path
        // A socket file whose server is gone: bound, never listened on, left behind.
        let stale = try ExternalClient.python(
            "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", arguments: [path],
            outputDirectory: workDirectory)
        XCTAssertTrue(stale.succeeded && FileManager.default.fileExists(atPath: path), "\(stale)")

        let server = try startTestApp(["--bind", "tcp://127.0.0.1:0", "--bind", "unix://\(path)"])
        func getOverTheSocket(_ name: String) throws -> ExternalClient.Result {
            try ExternalClient.curl(
                ["-sS", "--unix-socket", path, "http://localhost/request?n=\(name)"], outputDirectory: workDirectory)
        }
        let first = try getOverTheSocket("unix")
        XCTAssertTrue(first.succeeded && first.standardOutput.contains("query=n=unix"), "\(first)")

        // A second server must not take the socket a live one answers on.
        try expectCommandLineError(
            ["--bind", "unix://\(path)", "--threads", String(threads), "--log-format", "json"], mentioning: path)
        let again = try getOverTheSocket("still")
        XCTAssertTrue(again.succeeded && again.standardOutput.contains("query=n=still"), "\(again)")

        // A file that is not a socket is never removed.
        let plain = workDirectory.appendingPathComponent("not-a-socket").path
        try Data("keep".utf8).write(to: URL(fileURLWithPath: plain))
        try expectCommandLineError(
            ["--bind", "unix://\(plain)", "--threads", String(threads), "--log-format", "json"], mentioning: plain)
        XCTAssertEqual(FileManager.default.contents(atPath: plain), Data("keep".utf8))

        server.terminate()
        XCTAssertEqual(server.waitForExit(timeout: 10), .exited(0), server.logTail)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "the socket file outlived the server")
    }
}
