import XCTest

/// The timers, with small values: each fires (408 and close, or a plain close when idle)
/// within a bounded time, and not long before it is due.
class TimeoutTestCase: ServerTestCase {
    /// Reads the 408 and the close that follow a timer of `seconds`, started at `start`.
    func expect408ThenClose(
        _ client: RawClient, after seconds: Double, since start: ContinuousClock.Instant,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let response = try client.readResponse(timeout: 10, file: file, line: line)
        let elapsed = start.duration(to: ContinuousClock.now).secondsValue
        XCTAssertEqual(response.status, 408, response.statusLine, file: file, line: line)
        XCTAssertGreaterThanOrEqual(elapsed, seconds * 0.8, "the timer fired early", file: file, line: line)
        XCTAssertLessThan(elapsed, seconds + 5, "the timer fired late", file: file, line: line)
        assertClosed(client, "after 408", file: file, line: line)
    }

    func firstDataTimeoutGets408() throws {
        let server = try startTestApp(["--first-data-timeout", "300ms"])
        let start = ContinuousClock.now
        let client = try connect(server)
        try expect408ThenClose(client, after: 0.3, since: start)
    }

    func requestTimeoutWithHalfAHeadGets408() throws {
        let server = try startTestApp(["--request-timeout", "500ms"])
        let client = try connect(server)
        let start = ContinuousClock.now
        try client.send("GET / HTTP/1.1\r\nHost: loc")
        try expect408ThenClose(client, after: 0.5, since: start)
    }

    func requestTimeoutIsNotResetByTrickledBytes() throws {
        // The slowloris guard: a byte every 100 ms keeps the body timer happy, but the
        // request as a whole must still be done within --request-timeout.
        let server = try startTestApp(["--request-timeout", "500ms", "--body-timeout", "5s"])
        let client = try connect(server)
        let start = ContinuousClock.now
        try client.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n")
        // One byte every 100 ms (waiting for the server's answer in between), 30 at most:
        // the body (100 bytes) is never complete.
        for _ in 0..<30 {
            if client.isReadable(within: 0.1) { break }
            do { try client.send("x") } catch { break }
        }
        try expect408ThenClose(client, after: 0.5, since: start)
    }

    func bodyTimeoutGets408() throws {
        let server = try startTestApp(["--body-timeout", "300ms"])
        let client = try connect(server)
        try client.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nab")
        let start = ContinuousClock.now
        try expect408ThenClose(client, after: 0.3, since: start)
    }

    func keepaliveTimeoutClosesIdleConnection() throws {
        let server = try startTestApp(["--keepalive-timeout", "300ms"])
        let client = try connect(server)
        try client.send(Requests.get("/"))
        XCTAssertEqual(try client.readResponse().status, 200)
        let start = ContinuousClock.now
        let (closed, data) = client.waitForClose(timeout: 5)
        let elapsed = start.duration(to: ContinuousClock.now).secondsValue
        XCTAssertTrue(closed, "an idle keep-alive connection must be closed after --keepalive-timeout")
        XCTAssertEqual(
            data.count, 0, "closed with a response: \(String(decoding: data, as: UTF8.self).debugDescription)")
        XCTAssertGreaterThanOrEqual(elapsed, 0.24, "closed before the keep-alive timeout")
        // The timeout counts from the response, even when (pool mode) the app thread hands
        // the connection back without waking the loop.
        XCTAssertLessThan(elapsed, 1.0, "closed long after the keep-alive timeout")
    }
}

final class TimeoutPoolTests: TimeoutTestCase {
    override class var threads: Int { 5 }
    func testFirstDataTimeoutGets408() throws { try firstDataTimeoutGets408() }
    func testRequestTimeoutWithHalfAHeadGets408() throws { try requestTimeoutWithHalfAHeadGets408() }
    func testRequestTimeoutIsNotResetByTrickledBytes() throws { try requestTimeoutIsNotResetByTrickledBytes() }
    func testBodyTimeoutGets408() throws { try bodyTimeoutGets408() }
    func testKeepaliveTimeoutClosesIdleConnection() throws { try keepaliveTimeoutClosesIdleConnection() }
}

final class TimeoutInlineTests: TimeoutTestCase {
    override class var threads: Int { 0 }
    func testFirstDataTimeoutGets408() throws { try firstDataTimeoutGets408() }
    func testRequestTimeoutWithHalfAHeadGets408() throws { try requestTimeoutWithHalfAHeadGets408() }
    func testRequestTimeoutIsNotResetByTrickledBytes() throws { try requestTimeoutIsNotResetByTrickledBytes() }
    func testBodyTimeoutGets408() throws { try bodyTimeoutGets408() }
    func testKeepaliveTimeoutClosesIdleConnection() throws { try keepaliveTimeoutClosesIdleConnection() }
}
