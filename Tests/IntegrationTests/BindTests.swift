import Foundation
import Testing

/// `--bind` beyond IPv4 TCP: an IPv6 address, and Unix sockets (a stale socket file is
/// replaced, a live one or a file that is not a socket refused, the file removed at exit).
/// The mode does not matter here (each test binds what it is about): the default pool.
@Suite(.concurrent) final class BindTests: ServerSuite {
    static let mode = ServerMode(.pool, .tcp)

    @Test func servesOnIPv6Loopback() throws {
        let server = try startTestApp(Self.mode, ["--bind", "tcp://[::1]:0"])
        let result = try ExternalClient.curl(
            ["-sS", "-g", "http://[::1]:\(server.port)/request?n=v6"], outputDirectory: workDirectory)
        #expect(result.succeeded, "\(result)")
        #expect(result.standardOutput.contains("query=n=v6"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("remote=::1 "), "\(result.standardOutput)")
    }

    @Test func unixSocketReplacesAStaleFileRefusesALiveOneAndIsRemovedAtExit() throws {
        let path = workDirectory.appendingPathComponent("raptor.sock").path
        // A socket file whose server is gone: bound, never listened on, left behind.
        let stale = try ExternalClient.python(
            "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", arguments: [path],
            outputDirectory: workDirectory)
        #expect(stale.succeeded && FileManager.default.fileExists(atPath: path), "\(stale)")

        let server = try startTestApp(Self.mode, ["--bind", "tcp://127.0.0.1:0", "--bind", "unix://\(path)"])
        func getOverTheSocket(_ name: String) throws -> ExternalClient.Result {
            try ExternalClient.curl(
                ["-sS", "--unix-socket", path, "http://localhost/request?n=\(name)"], outputDirectory: workDirectory)
        }
        let first = try getOverTheSocket("unix")
        #expect(first.succeeded && first.standardOutput.contains("query=n=unix"), "\(first)")

        // A second server must not take the socket a live one answers on.
        try expectCommandLineError(
            ["--bind", "unix://\(path)", "--log-format", "json"] + Self.mode.dispatch.serverFlags(besides: []),
            mentioning: path)
        let again = try getOverTheSocket("still")
        #expect(again.succeeded && again.standardOutput.contains("query=n=still"), "\(again)")

        // A file that is not a socket is never removed.
        let plain = workDirectory.appendingPathComponent("not-a-socket").path
        try Data("keep".utf8).write(to: URL(fileURLWithPath: plain))
        try expectCommandLineError(
            ["--bind", "unix://\(plain)", "--log-format", "json"] + Self.mode.dispatch.serverFlags(besides: []),
            mentioning: plain)
        #expect(FileManager.default.contents(atPath: plain) == Data("keep".utf8))

        server.terminate()
        #expect(server.waitForExit(timeout: 10) == .exited(0), "\(server.logTail)")
        #expect(!FileManager.default.fileExists(atPath: path), "the socket file outlived the server")
    }
}
