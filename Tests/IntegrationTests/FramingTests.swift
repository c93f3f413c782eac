import XCTest

/// Response framing: HEAD has GET's headers and no body, 204 and 304 have no body. Every
/// response read here (as everywhere) is also checked by RawClient: never Content-Length
/// with Transfer-Encoding, none of them on 204.
class FramingTestCase: ServerTestCase {
    /// The fields that must agree between HEAD and GET (Date may tick between them).
    func comparableFields(_ response: HTTPResponseMessage) -> [String] {
        response.fields.filter { $0.name.lowercased() != "date" }.map { "\($0.name.lowercased()): \($0.value)" }
            .sorted()
    }

    func headHasGetHeadersAndNoBody() throws {
        let server = try startTestApp()
        let client = try connect(server)
        // Both in one write: if HEAD's response carried a body, GET's would not parse.
        try client.send(Requests.head("/") + Requests.get("/"))
        let head = try client.readResponse(to: "HEAD")
        let get = try client.readResponse()
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(get.status, 200)
        XCTAssertEqual(get.bodyText, "Hello, World!")
        XCTAssertEqual(head.header("Content-Length"), "13", head.rawHead)
        XCTAssertEqual(comparableFields(head), comparableFields(get))
        // Nothing was left over after GET either.
        XCTAssertTrue(client.pending.isEmpty)
    }

    func headOfStreamedResponseHasNoBody() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send(Requests.head("/stream") + Requests.get("/request?n=after"))
        let head = try client.readResponse(to: "HEAD")
        XCTAssertEqual(head.status, 200)
        let next = try client.readResponse()
        XCTAssertTrue(next.bodyText.contains("query=n=after"), "the HEAD's response had a body: \(next.rawHead)")
    }

    func noContentHasNoBodyAndNoLength() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send(Requests.get("/status?code=204") + Requests.get("/request?n=after"))
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 204)
        XCTAssertNil(response.header("Content-Length"), response.rawHead)
        XCTAssertNil(response.header("Transfer-Encoding"), response.rawHead)
        let next = try client.readResponse()
        XCTAssertEqual(next.status, 200, "the 204 carried a body: \(next.rawHead)")
        XCTAssertTrue(next.bodyText.contains("query=n=after"))
    }

    func notModifiedHasNoBody() throws {
        let server = try startTestApp()
        let client = try connect(server)
        try client.send(Requests.get("/status?code=304") + Requests.get("/request?n=after"))
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 304)
        XCTAssertNil(response.header("Transfer-Encoding"), response.rawHead)
        let next = try client.readResponse()
        XCTAssertEqual(next.status, 200, "the 304 carried a body: \(next.rawHead)")
        XCTAssertTrue(next.bodyText.contains("query=n=after"))
    }

    func contentLengthMatchesBody() throws {
        // RawClient reads exactly Content-Length bytes: extra bytes would show up as a bad
        // status line of the next response.
        let server = try startTestApp()
        let client = try connect(server)
        let targets = ["/", "/bytes?n=100000", "/status?code=404", "/status?code=201", "/echo", "/request?n=1"]
        try client.send(targets.map { Requests.get($0) }.joined())
        let responses = try client.readResponses(targets.count)
        XCTAssertEqual(responses.map(\.status), [200, 200, 404, 201, 200, 200])
        XCTAssertEqual(responses[1].body.count, 100_000)
        XCTAssertEqual(responses[2].bodyText, "body\n")
        XCTAssertTrue(client.pending.isEmpty)
    }
}

final class FramingPoolTests: FramingTestCase {
    override class var threads: Int { 5 }
    func testHeadHasGetHeadersAndNoBody() throws { try headHasGetHeadersAndNoBody() }
    func testHeadOfStreamedResponseHasNoBody() throws { try headOfStreamedResponseHasNoBody() }
    func testNoContentHasNoBodyAndNoLength() throws { try noContentHasNoBodyAndNoLength() }
    func testNotModifiedHasNoBody() throws { try notModifiedHasNoBody() }
    func testContentLengthMatchesBody() throws { try contentLengthMatchesBody() }
}

final class FramingInlineTests: FramingTestCase {
    override class var threads: Int { 0 }
    func testHeadHasGetHeadersAndNoBody() throws { try headHasGetHeadersAndNoBody() }
    func testHeadOfStreamedResponseHasNoBody() throws { try headOfStreamedResponseHasNoBody() }
    func testNoContentHasNoBodyAndNoLength() throws { try noContentHasNoBodyAndNoLength() }
    func testNotModifiedHasNoBody() throws { try notModifiedHasNoBody() }
    func testContentLengthMatchesBody() throws { try contentLengthMatchesBody() }
}
