import XCTest

/// Persistent connections (RFC 9112 section 9.3): when a connection stays open, when it
/// closes, and `--max-keepalive-requests`.
class KeepAliveTestCase: ServerTestCase {
    func severalRequestsOnOneConnection() throws {
        let server = try startTestApp()
        let client = try connect(server)
        for index in 0..<5 {
            try client.send(Requests.get("/request?n=\(index)"))
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 200)
            XCTAssertTrue(response.bodyText.contains("query=n=\(index)"), response.bodyText)
            XCTAssertFalse(response.saysClose, "request \(index) of 5: \(response.rawHead)")
        }
        XCTAssertFalse(client.peerClosed)
    }

    func http10WithoutKeepAliveClosesAfterResponse() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send("GET / HTTP/1.0\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.bodyText, "Hello, World!")
        XCTAssertFalse(response.tokens("Connection").contains("keep-alive"), response.rawHead)
        assertClosed(client, "an HTTP/1.0 request without keep-alive")
    }

    func http10WithKeepAliveStaysOpen() throws {
        let server = try startTestApp()
        let client = try connect(server)
        for index in 0..<2 {
            try client.send("GET /request?n=\(index) HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 200)
            XCTAssertTrue(response.bodyText.contains("query=n=\(index)"), response.bodyText)
            XCTAssertTrue(response.tokens("Connection").contains("keep-alive"), response.rawHead)
            XCTAssertNotNil(response.header("Content-Length"), "a kept-alive HTTP/1.0 response needs a length")
        }
        XCTAssertFalse(client.peerClosed)
    }

    func clientConnectionCloseCloses() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send(Requests.get("/", "Connection: close\r\n"))
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        // RFC 9112 9.6: the server SHOULD send "close" in its final response.
        XCTAssertTrue(response.saysClose, response.rawHead)
        assertClosed(client, "the client sent Connection: close")
    }

    func maxKeepaliveRequestsClosesAfterTheLast() throws {
        let server = try startTestApp(["--max-keepalive-requests", "3"])
        let client = try connect(server)
        for index in 1...3 {
            try client.send(Requests.get("/request?n=\(index)"))
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 200)
            XCTAssertTrue(response.bodyText.contains("query=n=\(index)"), response.bodyText)
            if index < 3 {
                XCTAssertFalse(response.saysClose, "response \(index) of 3: \(response.rawHead)")
            } else {
                XCTAssertTrue(response.saysClose, "the 3rd response must say Connection: close: \(response.rawHead)")
            }
        }
        assertClosed(client, "after --max-keepalive-requests 3")
    }
}

final class KeepAlivePoolTests: KeepAliveTestCase {
    override class var threads: Int { 5 }
    func testSeveralRequestsOnOneConnection() throws { try severalRequestsOnOneConnection() }
    func testHTTP10WithoutKeepAliveClosesAfterResponse() throws { try http10WithoutKeepAliveClosesAfterResponse() }
    func testHTTP10WithKeepAliveStaysOpen() throws { try http10WithKeepAliveStaysOpen() }
    func testClientConnectionCloseCloses() throws { try clientConnectionCloseCloses() }
    func testMaxKeepaliveRequestsClosesAfterTheLast() throws { try maxKeepaliveRequestsClosesAfterTheLast() }
}

final class KeepAliveInlineTests: KeepAliveTestCase {
    override class var threads: Int { 0 }
    func testSeveralRequestsOnOneConnection() throws { try severalRequestsOnOneConnection() }
    func testHTTP10WithoutKeepAliveClosesAfterResponse() throws { try http10WithoutKeepAliveClosesAfterResponse() }
    func testHTTP10WithKeepAliveStaysOpen() throws { try http10WithKeepAliveStaysOpen() }
    func testClientConnectionCloseCloses() throws { try clientConnectionCloseCloses() }
    func testMaxKeepaliveRequestsClosesAfterTheLast() throws { try maxKeepaliveRequestsClosesAfterTheLast() }
}
