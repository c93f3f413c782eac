import XCTest

/// `Expect: 100-continue` and the body timeout: once the server has sent `100 Continue`,
/// a client that sends no body byte gets 408 after `--body-timeout`, counted from the 100,
/// on a new connection and on a kept-alive one (not the first-data, request or keep-alive
/// timeout, and never a silent close).
class ContinueTimeoutTestCase: ServerTestCase {
    /// Every other timer far off, so only the body timer can answer within the test's bound.
    let flags = [
        "--body-timeout", "300ms", "--first-data-timeout", "20s", "--request-timeout", "30s",
        "--keepalive-timeout", "20s",
    ]

    /// Sends a head that asks for 100-continue, reads the 100, sends nothing more, and
    /// expects 408 then the close, 0.3 s after the 100.
    func expectBodyTimeoutAfterContinue(
        _ client: RawClient, framing: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        try client.send("POST /echo HTTP/1.1\r\nHost: localhost\r\n\(framing)\r\nExpect: 100-continue\r\n\r\n")
        let interim = try client.readResponse(timeout: 5, file: file, line: line)
        XCTAssertEqual(interim.status, 100, interim.statusLine, file: file, line: line)
        let start = ContinuousClock.now
        let response: HTTPResponseMessage
        do {
            response = try client.readResponse(timeout: 5, file: file, line: line)
        } catch {
            XCTFail("no 408 within 5 s of 100 Continue (--body-timeout 300ms): \(error)", file: file, line: line)
            return
        }
        let elapsed = start.duration(to: ContinuousClock.now).secondsValue
        XCTAssertEqual(response.status, 408, response.statusLine, file: file, line: line)
        XCTAssertGreaterThanOrEqual(elapsed, 0.24, "the body timer fired early", file: file, line: line)
        XCTAssertLessThan(elapsed, 3, "the body timer fired late", file: file, line: line)
        assertClosed(client, "after 408", file: file, line: line)
    }

    func bodyTimeoutStartsAtContinue() throws {
        let server = try startTestApp(flags)
        try expectBodyTimeoutAfterContinue(try connect(server), framing: "Content-Length: 10")
    }

    func bodyTimeoutStartsAtContinueForAChunkedBody() throws {
        let server = try startTestApp(flags)
        try expectBodyTimeoutAfterContinue(try connect(server), framing: "Transfer-Encoding: chunked")
    }

    func bodyTimeoutStartsAtContinueOnAKeptAliveConnection() throws {
        let server = try startTestApp(flags)
        let client = try connect(server)
        try client.send(Requests.get("/"))
        XCTAssertEqual(try client.readResponse().status, 200)
        try expectBodyTimeoutAfterContinue(client, framing: "Content-Length: 10")
    }
}

final class ContinueTimeoutPoolTests: ContinueTimeoutTestCase {
    override class var threads: Int { 5 }
    func testBodyTimeoutStartsAtContinue() throws { try bodyTimeoutStartsAtContinue() }
    func testBodyTimeoutStartsAtContinueForAChunkedBody() throws { try bodyTimeoutStartsAtContinueForAChunkedBody() }
    func testBodyTimeoutStartsAtContinueOnAKeptAliveConnection() throws {
        try bodyTimeoutStartsAtContinueOnAKeptAliveConnection()
    }
}

final class ContinueTimeoutInlineTests: ContinueTimeoutTestCase {
    override class var threads: Int { 0 }
    func testBodyTimeoutStartsAtContinue() throws { try bodyTimeoutStartsAtContinue() }
    func testBodyTimeoutStartsAtContinueForAChunkedBody() throws { try bodyTimeoutStartsAtContinueForAChunkedBody() }
    func testBodyTimeoutStartsAtContinueOnAKeptAliveConnection() throws {
        try bodyTimeoutStartsAtContinueOnAKeptAliveConnection()
    }
}
