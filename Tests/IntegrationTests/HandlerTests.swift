import XCTest

/// What the engine does around the application's handler: a handler that throws, a
/// streamed body (chunked or close-delimited), a stream that fails midway, and a handler
/// trying response splitting.
class HandlerTestCase: ServerTestCase {
    func throwingHandlerGets500AndServingGoesOn() throws {
        let server = try startTestApp()
        let failed = try exchange(server, Requests.get("/throw"))
        XCTAssertEqual(failed.status, 500, failed.statusLine)
        for index in 0..<3 {
            let next = try exchange(server, Requests.get("/request?n=\(index)"))
            XCTAssertEqual(next.status, 200, "a new connection after the 500")
            XCTAssertTrue(next.bodyText.contains("query=n=\(index)"))
        }
    }

    func streamIsChunkedOnHTTP11() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send(Requests.get("/stream"))
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.framing, .chunked, response.rawHead)
        XCTAssertTrue(response.rawHead.contains("\r\nTransfer-Encoding: chunked\r\n"), response.rawHead)
        XCTAssertNil(response.header("Content-Length"))
        XCTAssertEqual(response.bodyText, "chunk 0\nchunk 1\nchunk 2\n")
        XCTAssertFalse(response.saysClose)
        // The connection goes on after the last chunk.
        try client.send(Requests.get("/stream?chunks=5"))
        XCTAssertEqual(try client.readResponse().bodyText, (0..<5).map { "chunk \($0)\n" }.joined())
    }

    func streamIsCloseDelimitedOnHTTP10() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send("GET /stream HTTP/1.0\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertNil(response.header("Transfer-Encoding"), "never chunked to an HTTP/1.0 client: \(response.rawHead)")
        XCTAssertEqual(response.framing, .closeDelimited, response.rawHead)
        XCTAssertEqual(response.bodyText, "chunk 0\nchunk 1\nchunk 2\n")
        XCTAssertTrue(client.peerClosed)
    }

    func failingStreamIsCutWithoutLastChunk() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send(Requests.get("/stream-throw"))
        do {
            let response = try client.readResponse()
            XCTFail("a failed stream must not end like a whole one: \(response.rawHead)\(response.bodyText)")
        } catch RawClient.Failure.closedEarly(_, let received) {
            XCTAssertTrue(
                String(decoding: received, as: UTF8.self).contains("partial"),
                "the part written before the failure: \(String(decoding: received, as: UTF8.self).debugDescription)")
        }
        XCTAssertTrue(client.peerClosed)
        // The worker goes on.
        XCTAssertEqual(try exchange(server, Requests.get("/")).status, 200)
    }

    func splitHeaderIsDropped() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send(Requests.get("/split-header"))
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.bodyText, "safe\n")
        XCTAssertNil(response.header("Set-Cookie"), response.rawHead)
        XCTAssertFalse(response.rawHead.contains("evil"), response.rawHead)
        // The connection is still in step.
        try client.send(Requests.get("/"))
        XCTAssertEqual(try client.readResponse().bodyText, "Hello, World!")
    }
}

final class HandlerPoolTests: HandlerTestCase {
    override class var threads: Int { 5 }
    func testThrowingHandlerGets500AndServingGoesOn() throws { try throwingHandlerGets500AndServingGoesOn() }
    func testStreamIsChunkedOnHTTP11() throws { try streamIsChunkedOnHTTP11() }
    func testStreamIsCloseDelimitedOnHTTP10() throws { try streamIsCloseDelimitedOnHTTP10() }
    func testFailingStreamIsCutWithoutLastChunk() throws { try failingStreamIsCutWithoutLastChunk() }
    func testSplitHeaderIsDropped() throws { try splitHeaderIsDropped() }
}

final class HandlerInlineTests: HandlerTestCase {
    override class var threads: Int { 0 }
    func testThrowingHandlerGets500AndServingGoesOn() throws { try throwingHandlerGets500AndServingGoesOn() }
    func testStreamIsChunkedOnHTTP11() throws { try streamIsChunkedOnHTTP11() }
    func testStreamIsCloseDelimitedOnHTTP10() throws { try streamIsCloseDelimitedOnHTTP10() }
    func testFailingStreamIsCutWithoutLastChunk() throws { try failingStreamIsCutWithoutLastChunk() }
    func testSplitHeaderIsDropped() throws { try splitHeaderIsDropped() }
}
