import Testing

/// Response framing: HEAD has GET's headers and no body, 204 and 304 have no body. Every
/// response read here (as everywhere) is also checked by RawClient: never Content-Length
/// with Transfer-Encoding, none of them on 204.
@Suite(.concurrent) final class FramingTests: ServerSuite {
    /// The fields that must agree between HEAD and GET (Date may tick between them).
    func comparableFields(_ response: HTTPResponseMessage) -> [String] {
        response.fields.filter { $0.name.lowercased() != "date" }.map { "\($0.name.lowercased()): \($0.value)" }
            .sorted()
    }

    @Test(arguments: ServerMode.all)
    func headHasGetHeadersAndNoBody(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        // Both in one write: if HEAD's response carried a body, GET's would not parse.
        try client.send(Requests.head("/") + Requests.get("/"))
        let head = try client.readResponse(to: "HEAD")
        let get = try client.readResponse()
        #expect(head.status == 200)
        #expect(get.status == 200)
        #expect(get.bodyText == "Hello, World!")
        #expect(head.header("Content-Length") == "13", "\(head.rawHead)")
        #expect(comparableFields(head) == comparableFields(get))
        // Nothing was left over after GET either.
        #expect(client.pending.isEmpty)
    }

    @Test(arguments: ServerMode.all)
    func headOfStreamedResponseHasNoBody(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(Requests.head("/stream") + Requests.get("/request?n=after"))
        let head = try client.readResponse(to: "HEAD")
        #expect(head.status == 200)
        let next = try client.readResponse()
        #expect(next.bodyText.contains("query=n=after"), "the HEAD's response had a body: \(next.rawHead)")
    }

    @Test(arguments: ServerMode.all)
    func noContentHasNoBodyAndNoLength(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(Requests.get("/status?code=204") + Requests.get("/request?n=after"))
        let response = try client.readResponse()
        #expect(response.status == 204)
        #expect(response.header("Content-Length") == nil, "\(response.rawHead)")
        #expect(response.header("Transfer-Encoding") == nil, "\(response.rawHead)")
        let next = try client.readResponse()
        #expect(next.status == 200, "the 204 carried a body: \(next.rawHead)")
        #expect(next.bodyText.contains("query=n=after"))
    }

    @Test(arguments: ServerMode.all)
    func notModifiedHasNoBody(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(Requests.get("/status?code=304") + Requests.get("/request?n=after"))
        let response = try client.readResponse()
        #expect(response.status == 304)
        #expect(response.header("Transfer-Encoding") == nil, "\(response.rawHead)")
        let next = try client.readResponse()
        #expect(next.status == 200, "the 304 carried a body: \(next.rawHead)")
        #expect(next.bodyText.contains("query=n=after"))
    }

    @Test(arguments: ServerMode.all)
    func contentLengthMatchesBody(_ mode: ServerMode) throws {
        // RawClient reads exactly Content-Length bytes: extra bytes would show up as a bad
        // status line of the next response.
        let server = try startTestApp(mode)
        let client = try connect(server)
        let targets = ["/", "/bytes?n=100000", "/status?code=404", "/status?code=201", "/echo", "/request?n=1"]
        try client.send(targets.map { Requests.get($0) }.joined())
        let responses = try client.readResponses(targets.count)
        #expect(responses.map(\.status) == [200, 200, 404, 201, 200, 200])
        #expect(responses[1].body.count == 100_000)
        #expect(responses[2].bodyText == "body\n")
        #expect(client.pending.isEmpty)
    }
}
