import Testing

/// The timers, with small values: each fires (408 and close, or a plain close when idle)
/// within a bounded time, and not long before it is due.
@Suite(.exclusive) final class TimeoutTests: ServerSuite {
    /// Reads the 408 and the close that follow a timer of `seconds`, started at `start`.
    func expect408ThenClose(
        _ client: RawClient, after seconds: Double, since start: ContinuousClock.Instant,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let response = try client.readResponse(timeout: 10, sourceLocation: sourceLocation)
        let elapsed = start.duration(to: ContinuousClock.now).secondsValue
        #expect(response.status == 408, "\(response.statusLine)", sourceLocation: sourceLocation)
        #expect(elapsed >= (seconds * 0.8), "the timer fired early", sourceLocation: sourceLocation)
        #expect(elapsed < (seconds + 5), "the timer fired late", sourceLocation: sourceLocation)
        expectClosed(client, "after 408", sourceLocation: sourceLocation)
    }

    @Test(arguments: ServerMode.all)
    func firstDataTimeoutGets408(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--first-data-timeout", "300ms"])
        let start = ContinuousClock.now
        let client = try connect(server)
        try expect408ThenClose(client, after: 0.3, since: start)
    }

    @Test(arguments: ServerMode.all)
    func requestTimeoutWithHalfAHeadGets408(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--request-timeout", "500ms"])
        let client = try connect(server)
        let start = ContinuousClock.now
        try client.send("GET / HTTP/1.1\r\nHost: loc")
        try expect408ThenClose(client, after: 0.5, since: start)
    }

    @Test(arguments: ServerMode.all)
    func requestTimeoutIsNotResetByTrickledBytes(_ mode: ServerMode) throws {
        // The slowloris guard: a byte every 100 ms keeps the body timer happy, but the
        // request as a whole must still be done within --request-timeout.
        let server = try startTestApp(mode, ["--request-timeout", "500ms", "--body-timeout", "5s"])
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

    @Test(arguments: ServerMode.all)
    func bodyTimeoutGets408(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--body-timeout", "300ms"])
        let client = try connect(server)
        try client.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nab")
        let start = ContinuousClock.now
        try expect408ThenClose(client, after: 0.3, since: start)
    }

    @Test(arguments: ServerMode.all)
    func keepaliveTimeoutClosesIdleConnection(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--keepalive-timeout", "300ms"])
        let client = try connect(server)
        try client.send(Requests.get("/"))
        let status = try client.readResponse().status
        #expect(status == 200)
        let start = ContinuousClock.now
        let (closed, data) = client.waitForClose(timeout: 5)
        let elapsed = start.duration(to: ContinuousClock.now).secondsValue
        #expect(closed, "an idle keep-alive connection must be closed after --keepalive-timeout")
        #expect(data.count == 0, "closed with a response: \(String(decoding: data, as: UTF8.self).debugDescription)")
        #expect(elapsed >= 0.24, "closed before the keep-alive timeout")
        // The timeout counts from the response, even when (pool mode) the app thread hands
        // the connection back without waking the loop.
        #expect(elapsed < 1.0, "closed long after the keep-alive timeout")
    }
}
