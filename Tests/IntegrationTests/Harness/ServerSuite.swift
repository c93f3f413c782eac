import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The base of the suites that start servers and talk to them. A suite is a final class of
/// this (`@Suite(.concurrent) final class FooTests: ServerSuite`); Swift Testing makes one
/// instance per test case and releases it when the case ends, so `deinit` is the teardown:
/// servers stopped, connections closed, temporary directories removed, even when the test
/// failed or threw, and a server that died during the test is reported as an issue.
///
/// A behaviour test takes the mode as its argument, `@Test(arguments: ServerMode.all)`, and
/// hands it to `startTestApp` / `startStaticServer`; `connect` then speaks the server's
/// transport.
class ServerSuite {
    private var servers: [ServerProcess] = []
    private var clients: [RawClient] = []
    private var temporaryDirectories: [URL] = []
    /// Scratch space for this test: server logs, client output, files to serve.
    private(set) var workDirectory: URL

    init() throws {
        workDirectory = URL(fileURLWithPath: "/nonexistent")
        workDirectory = try makeTemporaryDirectory()
    }

    deinit {
        for client in clients { client.close() }
        for server in servers {
            if let status = server.process.poll(), !server.stopRequested {
                Issue.record(
                    "the server died during the test (\(status)): \(server.commandLine)\nstderr:\n\(server.logTail)")
            }
            server.stop(timeout: 5)
        }
        for directory in temporaryDirectories { try? FileManager.default.removeItem(at: directory) }
    }

    // MARK: Servers and clients

    /// `raptor-testapp` with `flags`, on 127.0.0.1 over `mode`'s transport (an ephemeral
    /// port), in `mode`'s dispatch, with JSON logs and a short `--shutdown-timeout` unless
    /// `flags` say otherwise.
    /// `environment` is added to the server's (`RAPTOR_TESTAPP_APPLICATION=async`, say).
    func startTestApp(_ mode: ServerMode, _ flags: [String] = [], environment: [String: String] = [:]) throws
        -> ServerProcess
    {
        try startServer(mode, binary: Binaries.testApp, leading: [], flags: flags, environment: environment)
    }

    /// `raptor-ev serve DIRECTORY` with the same defaults as `startTestApp`.
    func startStaticServer(_ mode: ServerMode, directory: String, _ flags: [String] = []) throws -> ServerProcess {
        try startServer(mode, binary: Binaries.raptorEV, leading: ["serve", directory], flags: flags)
    }

    /// `dispatchFlags: false` leaves `--threads` and `--workers` to the binary's defaults.
    func startServer(
        _ mode: ServerMode, binary: String, leading: [String], flags: [String], environment: [String: String] = [:],
        dispatchFlags: Bool = true
    ) throws -> ServerProcess {
        var arguments = leading + flags
        if !flags.contains("--bind") && !flags.contains("-b") {
            arguments += try mode.transport.serverFlags(directory: workDirectory)
        }
        if dispatchFlags { arguments += mode.dispatch.serverFlags(besides: flags) }
        if !flags.contains("--log-format") { arguments += ["--log-format", "json"] }
        if !flags.contains("--shutdown-timeout") { arguments += ["--shutdown-timeout", "3s"] }
        // A test starts on a whole server: with a master, once every worker booted. (A stop
        // that reaches a worker still booting waits out --shutdown-timeout.)
        let server = try ServerProcess(
            binary: binary, arguments: arguments, transport: mode.transport,
            waitingForWorkers: Self.runsAMaster(arguments), outputDirectory: workDirectory, environment: environment)
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

    /// A new connection to `server` over its transport, closed at the end of the test.
    func connect(_ server: ServerProcess, timeout: Double = 10, receiveBufferSize: Int? = nil) throws -> RawClient {
        let client = try server.openClient(timeout: timeout, receiveBufferSize: receiveBufferSize)
        clients.append(client)
        return client
    }

    /// A new directory, removed at the end of the test.
    func makeTemporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("raptor-it-\(UUID().uuidString.prefix(12))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        temporaryDirectories.append(directory)
        return directory
    }

    // MARK: Real clients

    /// curl against `server` (the URL's scheme and curl's options from its transport) for
    /// `path`, with `options` before the URL.
    func curl(_ server: ServerProcess, _ path: String, _ options: [String] = [], timeout: Double = 15) throws
        -> ExternalClient.Result
    {
        try ExternalClient.curl(
            options + server.transport.curlOptions + [server.url(path)], timeout: timeout,
            outputDirectory: workDirectory)
    }

    /// A Python 3 script against `server`: its base URL is sys.argv[1] (then `arguments`),
    /// and `connect(url)` opens an http.client connection over the server's transport.
    func python(_ server: ServerProcess, _ script: String, arguments: [String] = [], timeout: Double = 15) throws
        -> ExternalClient.Result
    {
        try ExternalClient.python(
            ExternalClient.pythonConnect(caFile: server.transport.caFile) + script,
            arguments: [server.url("")] + arguments, timeout: timeout,
            outputDirectory: workDirectory)
    }

    // MARK: Shared exchanges and expectations

    /// Nothing logged at error level, no call of Hooks.onError (the test app reports it).
    func expectNoFailureReported(_ server: ServerProcess, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(
            !server.standardError.contains("\"level\":\"error\""), "\(server.logTail)", sourceLocation: sourceLocation)
        #expect(!server.standardError.contains("hook on-error"), "\(server.logTail)", sourceLocation: sourceLocation)
    }

    /// One request on a new connection, one response.
    func exchange(
        _ server: ServerProcess, _ request: String, method: String = "GET",
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> HTTPResponseMessage {
        let client = try connect(server)
        try client.send(request)
        return try client.readResponse(to: method, sourceLocation: sourceLocation)
    }

    /// Sends `request` (raw bytes) on a new connection; expects exactly one response with
    /// `status`, then the server closes the connection with nothing more.
    @discardableResult
    func expectStatusThenClose(
        _ server: ServerProcess, _ request: [UInt8], status: Int, method: String = "GET",
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> HTTPResponseMessage {
        let client = try connect(server)
        try client.send(request)
        let shown = String(decoding: request.prefix(300), as: UTF8.self).debugDescription
        let response: HTTPResponseMessage
        do {
            response = try client.readResponse(to: method, sourceLocation: sourceLocation)
        } catch {
            Issue.record("no response to \(shown): \(error)", sourceLocation: sourceLocation)
            throw error
        }
        #expect(
            response.status == status,
            "status for \(shown); got \(response.statusLine)\n\(response.rawHead)\(response.bodyText)",
            sourceLocation: sourceLocation)
        expectClosed(client, "after the \(response.status) to \(shown)", sourceLocation: sourceLocation)
        return response
    }

    @discardableResult
    func expectStatusThenClose(
        _ server: ServerProcess, _ request: String, status: Int, method: String = "GET",
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> HTTPResponseMessage {
        try expectStatusThenClose(
            server, Array(request.utf8), status: status, method: method, sourceLocation: sourceLocation)
    }

    /// A request that must be refused: one 400, the connection closed, and the valid
    /// request sent right behind it in the same write never answered.
    func expectRejectedWith400(
        _ server: ServerProcess, _ request: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let follower = Array(Requests.get("/request?n=follower").utf8)
        let response = try expectStatusThenClose(
            server, request + follower, status: 400, sourceLocation: sourceLocation)
        #expect(!response.bodyText.contains("follower"), sourceLocation: sourceLocation)
    }

    func expectRejectedWith400(
        _ server: ServerProcess, _ request: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try expectRejectedWith400(server, Array(request.utf8), sourceLocation: sourceLocation)
    }
}
