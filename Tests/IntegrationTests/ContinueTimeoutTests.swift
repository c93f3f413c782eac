import Testing

/// `Expect: 100-continue` and the body timeout: once the server has sent `100 Continue`,
/// a client that sends no body byte gets 408 after `--body-timeout`, counted from the 100,
/// on a new connection and on a kept-alive one (not the first-data, request or keep-alive
/// timeout, and never a silent close).
@Suite(.exclusive) final class ContinueTimeoutTests: ServerSuite {
    /// Every other timer far off, so only the body timer can answer within the test's bound.
    let flags = [
        "--body-timeout", "300ms", "--first-data-timeout", "20s", "--request-timeout", "30s",
        "--keepalive-timeout", "20s",
    ]

    /// Sends a head that asks for 100-continue, reads the 100, sends nothing more, and
    /// expects 408 then the close, 0.3 s after the 100.
    func expectBodyTimeoutAfterContinue(
        _ client: RawClient, framing: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try client.send("POST /echo HTTP/1.1\r\nHost: localhost\r\n\(framing)\r\nExpect: 100-continue\r\n\r\n")
        let interim = try client.readResponse(timeout: 5, sourceLocation: sourceLocation)
        #expect(interim.status == 100, "\(interim.statusLine)", sourceLocation: sourceLocation)
        let start = ContinuousClock.now
        let response: HTTPResponseMessage
        do {
            response = try client.readResponse(timeout: 5, sourceLocation: sourceLocation)
        } catch {
            Issue.record(
                "no 408 within 5 s of 100 Continue (--body-timeout 300ms): \(error)", sourceLocation: sourceLocation)
            return
        }
        let elapsed = start.duration(to: ContinuousClock.now).secondsValue
        #expect(response.status == 408, "\(response.statusLine)", sourceLocation: sourceLocation)
        #expect(elapsed >= 0.24, "the body timer fired early", sourceLocation: sourceLocation)
        #expect(elapsed < 3, "the body timer fired late", sourceLocation: sourceLocation)
        expectClosed(client, "after 408", sourceLocation: sourceLocation)
    }

    @Test(arguments: ServerMode.all)
    func bodyTimeoutStartsAtContinue(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, flags)
        try expectBodyTimeoutAfterContinue(try connect(server), framing: "Content-Length: 10")
    }

    @Test(arguments: ServerMode.all)
    func bodyTimeoutStartsAtContinueForAChunkedBody(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, flags)
        try expectBodyTimeoutAfterContinue(try connect(server), framing: "Transfer-Encoding: chunked")
    }

    @Test(arguments: ServerMode.all)
    func bodyTimeoutStartsAtContinueOnAKeptAliveConnection(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, flags)
        let client = try connect(server)
        try client.send(Requests.get("/"))
        try expectEqual(client.readResponse().status, 200)
        try expectBodyTimeoutAfterContinue(client, framing: "Content-Length: 10")
    }
}
