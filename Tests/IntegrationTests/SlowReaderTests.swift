import XCTest

/// A client that asks for a big response and stops reading must not stall anyone else,
/// and `--write-timeout` eventually drops it.
class SlowReaderTestCase: ServerTestCase {
    static let size = 8_000_000

    /// Requests /bytes?n=8000000 on a connection with a small receive window and reads
    /// only the head, so the server is left with megabytes it cannot send.
    func stalledClient(_ server: ServerProcess) throws -> RawClient {
        let stalled = try connect(server, receiveBufferSize: 16 << 10)
        try stalled.send(Requests.get("/bytes?n=\(Self.size)"))
        let head = try stalled.readHead()
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Content-Length"), String(Self.size))
        return stalled
    }

    func stalledReaderDoesNotStallOthers() throws {
        let server = try startTestApp()
        let stalled = try stalledClient(server)
        for index in 0..<3 {
            let (response, seconds) = try measureSeconds {
                try exchange(server, Requests.get("/request?n=\(index)"))
            }
            XCTAssertEqual(response.status, 200)
            XCTAssertTrue(response.bodyText.contains("query=n=\(index)"))
            XCTAssertLessThan(seconds, 5, "another client waited behind the stalled one")
        }
        XCTAssertFalse(stalled.peerClosed)
    }

    func stalledReaderGetsWholeResponseWhenItReadsAgain() throws {
        let server = try startTestApp()
        let stalled = try stalledClient(server)
        XCTAssertEqual(try exchange(server, Requests.get("/")).status, 200)
        // The whole body arrives once the client reads again, then the connection goes on.
        try stalled.discard(exactly: Self.size, timeout: 20)
        try stalled.send(Requests.get("/"))
        XCTAssertEqual(try stalled.readResponse().bodyText, "Hello, World!")
    }

    func writeTimeoutClosesStalledConnection() throws {
        let server = try startTestApp(["--write-timeout", "500ms"])
        let stalled = try stalledClient(server)
        // The client stays stalled well past --write-timeout: that is the scenario.
        usleep(1_500_000)
        let (bytes, closed) = stalled.drain(timeout: 10)
        XCTAssertTrue(
            closed, "the stalled connection was not closed (\(bytes) body bytes read, all of them kept coming)")
        XCTAssertLessThan(bytes, Self.size, "the whole body was delivered: the write timeout never cut the connection")
        // The server goes on.
        XCTAssertEqual(try exchange(server, Requests.get("/")).status, 200)
    }
}

final class SlowReaderPoolTests: SlowReaderTestCase {
    override class var threads: Int { 5 }
    func testStalledReaderDoesNotStallOthers() throws { try stalledReaderDoesNotStallOthers() }
    func testStalledReaderGetsWholeResponseWhenItReadsAgain() throws {
        try stalledReaderGetsWholeResponseWhenItReadsAgain()
    }
    func testWriteTimeoutClosesStalledConnection() throws { try writeTimeoutClosesStalledConnection() }
}

final class SlowReaderInlineTests: SlowReaderTestCase {
    override class var threads: Int { 0 }
    func testStalledReaderDoesNotStallOthers() throws { try stalledReaderDoesNotStallOthers() }
    func testStalledReaderGetsWholeResponseWhenItReadsAgain() throws {
        try stalledReaderGetsWholeResponseWhenItReadsAgain()
    }
    func testWriteTimeoutClosesStalledConnection() throws { try writeTimeoutClosesStalledConnection() }
}
