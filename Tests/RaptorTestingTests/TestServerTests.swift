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
        let server = try TestServer(configuration: dispatch.configuration, handler: Fixture.handler)
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
