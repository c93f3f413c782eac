import XCTest

/// Request bodies: Content-Length and chunked framing, `Expect: 100-continue`, and a body
/// too big for memory.
class BodyTestCase: ServerTestCase {
    func contentLengthBodyEchoed() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send(Requests.post("/echo", body: "hello world", "Content-Type: text/plain\r\n"))
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.bodyText, "hello world")
        XCTAssertEqual(response.header("Content-Type"), "text/plain")

        // Every byte value survives, on the same connection.
        let binary = [UInt8]((0...255).map { UInt8($0) }) + [UInt8]((0...255).reversed().map { UInt8($0) })
        try client.send(
            Array("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(binary.count)\r\n\r\n".utf8) + binary)
        let echoed = try client.readResponse()
        XCTAssertEqual(echoed.status, 200)
        XCTAssertEqual(echoed.body, binary)
    }

    func chunkedUploadWithExtensionsAndTrailers() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send(
            "POST /trailers HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                + "5;ext=value\r\nhello\r\n"
                + "6;name=\"quoted; value\";flag\r\n world\r\n"
                + "0;last=1\r\nX-Checksum: abc123\r\nX-Other:  spaced  \r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        let lines = response.bodyText.split(separator: "\n").map { String($0) }
        XCTAssertEqual(lines.first, "body=hello world", response.bodyText)
        let trailers = Set(lines.dropFirst().map { $0.lowercased() })
        XCTAssertTrue(trailers.contains("x-checksum: abc123"), response.bodyText)
        XCTAssertTrue(trailers.contains("x-other: spaced"), response.bodyText)
        XCTAssertEqual(trailers.count, 2, "only the two trailer fields: \(response.bodyText)")
        // The connection is still usable: the body ended where the chunked framing said.
        try client.send(Requests.get("/"))
        XCTAssertEqual(try client.readResponse().bodyText, "Hello, World!")
    }

    func expect100ContinueBeforeFinalResponse() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                + "Expect: 100-continue\r\n\r\n")
        let interim = try client.readResponse()
        XCTAssertEqual(interim.statusLine, "HTTP/1.1 100 Continue")
        try client.send("hello")
        let final = try client.readResponse()
        XCTAssertEqual(final.status, 200)
        XCTAssertEqual(final.bodyText, "hello")
    }

    func expect100ContinueOverMaxBodySizeGets413() throws {
        let server = try startTestApp(["--max-body-size", "1k"])
        let client = try connect(server)
        try client.send(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000\r\nExpect: 100-continue\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(
            response.status, 413, "a body over the limit is refused before 100 Continue: \(response.statusLine)")
        assertClosed(client, "after 413")
    }

    func unknownExpectationGets417() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: something-else\r\n\r\nhello")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 417, response.statusLine)
    }

    func hundredMebibyteUploadIsSpooledToDisk() throws {
        let server = try startTestApp(["--max-body-size", "200m"])
        let client = try connect(server, timeout: 30)
        let total = 100 << 20
        let piece = [UInt8]((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let pieceSum = piece.reduce(UInt64(0)) { $0 + UInt64($1) }
        try client.send("POST /body-info HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(total)\r\n\r\n")
        for _ in 0..<(total / piece.count) { try client.send(piece) }
        let response = try client.readResponse(timeout: 90)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(
            response.bodyText, "length=104857600 memory=false sum=\(pieceSum * 100)\n",
            "the body must arrive whole and be spooled to a file")
        let peak = server.peakResidentKiB
        XCTAssertGreaterThan(peak, 0, "VmHWM of the server could not be read")
        XCTAssertLessThan(peak, 60 << 10, "peak RSS of the server \(peak) KiB after a 100 MiB upload")
    }
}

final class BodyPoolTests: BodyTestCase {
    override class var threads: Int { 5 }
    func testContentLengthBodyEchoed() throws { try contentLengthBodyEchoed() }
    func testChunkedUploadWithExtensionsAndTrailers() throws { try chunkedUploadWithExtensionsAndTrailers() }
    func testExpect100ContinueBeforeFinalResponse() throws { try expect100ContinueBeforeFinalResponse() }
    func testExpect100ContinueOverMaxBodySizeGets413() throws { try expect100ContinueOverMaxBodySizeGets413() }
    func testUnknownExpectationGets417() throws { try unknownExpectationGets417() }
    func testHundredMebibyteUploadIsSpooledToDisk() throws { try hundredMebibyteUploadIsSpooledToDisk() }
}

final class BodyInlineTests: BodyTestCase {
    override class var threads: Int { 0 }
    func testContentLengthBodyEchoed() throws { try contentLengthBodyEchoed() }
    func testChunkedUploadWithExtensionsAndTrailers() throws { try chunkedUploadWithExtensionsAndTrailers() }
    func testExpect100ContinueBeforeFinalResponse() throws { try expect100ContinueBeforeFinalResponse() }
    func testExpect100ContinueOverMaxBodySizeGets413() throws { try expect100ContinueOverMaxBodySizeGets413() }
    func testUnknownExpectationGets417() throws { try unknownExpectationGets417() }
    func testHundredMebibyteUploadIsSpooledToDisk() throws { try hundredMebibyteUploadIsSpooledToDisk() }
}
