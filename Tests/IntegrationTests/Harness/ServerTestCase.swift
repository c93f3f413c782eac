import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The base of every integration test: starts servers (always stopped in tearDown, even
/// when the test fails), opens raw connections (always closed), makes temporary
/// directories (always removed), and holds the assertions the tests share.
///
/// The dispatch mode is `threads`: each concern is a subclass of this with no tests of its
/// own, and two final subclasses that override `threads` (5, the default pool, and 0,
/// inline on the event loop) and declare the tests, so a failure names its mode.
class ServerTestCase: XCTestCase {
    /// `--threads` for every server this test starts (unless the test passes its own).
    class var threads: Int { 5 }
    var threads: Int { Self.threads }

    private var servers: [ServerProcess] = []
    private var clients: [RawClient] = []
    private var temporaryDirectories: [URL] = []
    /// Scratch space for this test: server logs, client output, files to serve.
    private(set) var workDirectory = URL(fileURLWithPath: "/nonexistent")

    override func setUpWithError() throws {
        try super.setUpWithError()
        workDirectory = try makeTemporaryDirectory()
    }

    override func tearDown() {
        for client in clients { client.close() }
        clients = []
        for server in servers {
            if let status = server.process.poll(), !server.stopRequested {
                XCTFail(
                    "the server died during the test (\(status)): \(server.commandLine)\nstderr:\n\(server.logTail)")
            }
            server.stop(timeout: 5)
        }
        servers = []
        for directory in temporaryDirectories { try? FileManager.default.removeItem(at: directory) }
        temporaryDirectories = []
        super.tearDown()
    }

    // MARK: Servers and clients

    /// `raptor-testapp` with `flags`, on 127.0.0.1, an ephemeral port, JSON logs, this
    /// class's `--threads` (inline suites also `--workers 0`: one process), and a short
    /// `--shutdown-timeout` unless `flags` say otherwise.
    func startTestApp(_ flags: [String] = []) throws -> ServerProcess {
        try startServer(binary: Binaries.testApp, leading: [], flags: flags)
    }

    /// `raptor-ev serve DIRECTORY` with the same defaults as `startTestApp`.
    func startStaticServer(directory: String, _ flags: [String] = []) throws -> ServerProcess {
        try startServer(binary: Binaries.raptorEV, leading: ["serve", directory], flags: flags)
    }

    func startServer(binary: String, leading: [String], flags: [String]) throws -> ServerProcess {
        var arguments = leading + flags
        if !flags.contains("--bind") && !flags.contains("-b") { arguments += ["--bind", "tcp://127.0.0.1:0"] }
        if !flags.contains("--threads") && !flags.contains("-t") { arguments += ["--threads", String(threads)] }
        // Both process models get the whole suite: the inline suites run one process
        // (`--workers 0`, no master), the pool suites the default cluster.
        if threads == 0 && !flags.contains("--workers") && !flags.contains("-w") && !flags.contains("--single") {
            arguments += ["--workers", "0"]
        }
        if !flags.contains("--log-format") { arguments += ["--log-format", "json"] }
        if !flags.contains("--shutdown-timeout") { arguments += ["--shutdown-timeout", "3s"] }
        // A test starts on a whole server: with a master, once every worker booted. (A stop
        // that reaches a worker still booting waits out --shutdown-timeout.)
        let server = try ServerProcess(
            binary: binary, arguments: arguments, waitingForWorkers: Self.runsAMaster(arguments),
            outputDirectory: workDirectory)
        servers.append(server)
        return server
    }

    /// Whether a server with these arguments forks workers (it does unless `--single` or
    /// `--workers 0`).
    static func runsAMaster(_ arguments: [String]) -> Bool {
        if arguments.contains("--single") { return false }
        let workers = arguments.indices.filter { ["--workers", "-w"].contains(arguments[$0]) }.last
        return workers.map { $0 + 1 < arguments.count && arguments[$0 + 1] != "0" } ?? true
    }

    /// A new connection to `server`, closed in tearDown.
    func connect(_ server: ServerProcess, timeout: Double = 10, receiveBufferSize: Int? = nil) throws -> RawClient {
        let client = try RawClient(port: server.port, timeout: timeout, receiveBufferSize: receiveBufferSize)
        clients.append(client)
        return client
    }

    func makeTemporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("raptor-it-\(UUID().uuidString.prefix(12))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        temporaryDirectories.append(directory)
        return directory
    }

    // MARK: Shared exchanges and assertions

    /// One request on a new connection, one response.
    func exchange(
        _ server: ServerProcess, _ request: String, method: String = "GET", file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> HTTPResponseMessage {
        let client = try connect(server)
        try client.send(request)
        return try client.readResponse(to: method, file: file, line: line)
    }

    /// Asserts the server closes `client` within `timeout` seconds and sends nothing more.
    func assertClosed(
        _ client: RawClient, within timeout: Double = 5, _ context: @autoclosure () -> String = "",
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let (closed, data) = client.waitForClose(timeout: timeout)
        XCTAssertTrue(
            closed, "the server did not close the connection within \(timeout) s. \(context())", file: file, line: line)
        XCTAssertEqual(
            data.count, 0,
            "the server sent more after the response: \(String(decoding: data.prefix(500), as: UTF8.self).debugDescription). \(context())",
            file: file, line: line)
    }

    /// Sends `request` (raw bytes) on a new connection; asserts exactly one response with
    /// `status`, then the server closes the connection with nothing more.
    @discardableResult
    func expectStatusThenClose(
        _ server: ServerProcess, _ request: [UInt8], status: Int, method: String = "GET",
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> HTTPResponseMessage {
        let client = try connect(server)
        try client.send(request)
        let shown = String(decoding: request.prefix(300), as: UTF8.self).debugDescription
        let response: HTTPResponseMessage
        do {
            response = try client.readResponse(to: method, file: file, line: line)
        } catch {
            XCTFail("no response to \(shown): \(error)", file: file, line: line)
            throw error
        }
        XCTAssertEqual(
            response.status, status,
            "status for \(shown); got \(response.statusLine)\n\(response.rawHead)\(response.bodyText)",
            file: file, line: line)
        assertClosed(client, "after the \(response.status) to \(shown)", file: file, line: line)
        return response
    }

    @discardableResult
    func expectStatusThenClose(
        _ server: ServerProcess, _ request: String, status: Int, method: String = "GET",
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> HTTPResponseMessage {
        try expectStatusThenClose(server, Array(request.utf8), status: status, method: method, file: file, line: line)
    }

    /// A request that must be refused: one 400, the connection closed, and the valid
    /// request sent right behind it in the same write never answered.
    func expectRejectedWith400(
        _ server: ServerProcess, _ request: [UInt8], file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let follower = Array(Requests.get("/request?n=follower").utf8)
        let response = try expectStatusThenClose(server, request + follower, status: 400, file: file, line: line)
        XCTAssertFalse(response.bodyText.contains("follower"), file: file, line: line)
    }

    func expectRejectedWith400(
        _ server: ServerProcess, _ request: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        try expectRejectedWith400(server, Array(request.utf8), file: file, line: line)
    }
}
