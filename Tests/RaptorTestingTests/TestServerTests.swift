import Foundation
import Raptor
import RaptorTesting
import Testing

/// A real server on port 0 in the test's process: its address, real clients, its stop.
@Suite struct TestServerTests {
    @Test(arguments: Fixture.Dispatch.allCases)
    func curlGetsAnAnswerOnTheBoundPort(_ dispatch: Fixture.Dispatch) throws {
        let output = try TestServer.withServer(
            configuration: dispatch.configuration, responder: .sync(Fixture.handler)
        ) { address in
            #expect(address.host == "127.0.0.1")
            #expect(address.port > 0)
            return try Self.curl(["-sS", "-i", "--max-time", "10", "\(address.url)/hello"])
        }
        #expect(output.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(output.hasSuffix("\r\n\r\nHello"))
    }

    @Test func asyncCodeStartsAndStopsIt() async throws {
        let body = try await TestServer.withServer(responder: .sync(Fixture.handler)) { address in
            try await Self.curl(["-sS", "--max-time", "10", "-d", "posted", "\(address.url)/echo"])
        }
        #expect(body == "posted")

        let server = try TestServer(configuration: Fixture.Dispatch.inline.configuration, handler: Fixture.handler)
        let client = try server.connect()
        #expect(try await client.send(.get("/stream")).bodyText == "part 1\npart 2\npart 3\n")
        client.close()
        try await server.stop()
    }

    @Test(arguments: Fixture.Dispatch.allCases)
    func stopReleasesThePort(_ dispatch: Fixture.Dispatch) throws {
        let server = try Self.serverBelowTheEphemeralRange(dispatch)
        let port = server.address.port
        #expect(try server.connect().send(.get("/hello")).status == .ok)
        let taken = Result { try Listener.bind(BindAddress(parsing: "tcp://127.0.0.1:\(port)"), backlog: 1) }
        #expect(throws: RaptorError.self) { try taken.get() }
        try server.stop()
        let listeners = try Listener.bind(BindAddress(parsing: "tcp://127.0.0.1:\(port)"), backlog: 1)
        #expect(listeners.count == 1)
        listeners.forEach { $0.close() }
        #expect(throws: RaptorTestingError.self) { try server.connect() }
    }

    /// A server on a port the kernel never hands out by itself: a port of the ephemeral range,
    /// once freed, may become the local port of another test's client before this test binds
    /// it again, and that client's socket (without SO_REUSEADDR) makes the bind fail.
    static func serverBelowTheEphemeralRange(_ dispatch: Fixture.Dispatch) throws -> TestServer {
        let range = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let lowest = try #require(range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) })
        var lastFailure: any Error = RaptorTestingError.unsupportedBind("no port below \(lowest)")
        for port in (lowest / 2..<lowest).shuffled().prefix(64) {
            do {
                return try TestServer(
                    bind: "tcp://127.0.0.1:\(port)", configuration: dispatch.configuration, handler: Fixture.handler)
            } catch {
                lastFailure = error
            }
        }
        throw lastFailure
    }

    @Test func onlyPlainTCPAddresses() {
        #expect(throws: RaptorTestingError.unsupportedBind("unix:///tmp/raptor-testing.sock")) {
            try TestServer(bind: "unix:///tmp/raptor-testing.sock", handler: Fixture.handler)
        }
    }

    /// curl waited for off Swift's cooperative threads (an async responder needs them).
    static func curl(_ arguments: [String]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try curl(arguments) }) }
        }
    }

    static func curl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
    }
}
