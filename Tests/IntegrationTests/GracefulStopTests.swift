import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// SIGTERM stops the server gracefully: a request in flight still gets its whole response,
/// idle connections are closed, and the process exits 0.
@Suite(.exclusive) final class GracefulStopTests: ServerSuite {
    @Test(arguments: ServerMode.all)
    func requestInFlightCompletesThenExitZero(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--shutdown-timeout", "10s"])
        let client = try connect(server)
        let sent = ContinuousClock.now
        try client.send(Requests.get("/slow?ms=1000"))
        // In flight: the request reached the server's socket (all of it acknowledged) and
        // the server read it (that socket's receive queue is empty again).
        let serverPort = server.port
        let clientPort = client.localPort
        let read = waitUntil(timeout: 5) {
            client.unacknowledgedBytes == 0 && ProcFS.receiveQueues(localPort: serverPort)[clientPort] == 0
        }
        #expect(read, "the server never read the request")
        let start = ContinuousClock.now
        server.terminate()
        let response = try client.readResponse(timeout: 10)
        #expect(response.status == 200)
        #expect(response.bodyText == "slow done\n", "the response arrives whole")
        // The stop must not disturb the handler: its 1 s sleep runs to the end.
        let took = sent.duration(to: ContinuousClock.now).secondsValue
        #expect(took >= 0.95, "the handler was cut short by the stop (its sleep was interrupted)")
        let status = server.waitForExit(timeout: 10)
        #expect(status == .exited(0), "after SIGTERM; stderr:\n\(server.logTail)")
        let elapsed = start.duration(to: ContinuousClock.now).secondsValue
        #expect(elapsed < 8, "the stop took longer than the request")
    }

    /// A response that promised keep-alive before the stop began: the request the client
    /// pipelined behind it is still answered (with Connection: close), not drained away.
    @Test(arguments: ServerMode.all)
    func requestPipelinedBehindAResponseInFlightIsAnswered(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--shutdown-timeout", "10s"])
        let client = try connect(server)
        try client.send(Requests.get("/stream?chunks=2&pause-ms=500") + Requests.get("/request?n=behind"))
        #expect(client.isReadable(within: 5), "the streamed response never started")
        server.terminate()
        let responses = try client.readResponses(2, timeout: 10)
        #expect(responses[0].bodyText == "chunk 0\nchunk 1\n")
        #expect(!responses[0].saysClose, "the stream began before the stop: \(responses[0].rawHead)")
        #expect(responses[1].status == 200)
        #expect(responses[1].bodyText.contains("query=n=behind"), "\(responses[1].bodyText)")
        if mode.dispatch == .pool {
            // The loop saw the stop while the stream ran on an app thread. (Inline, the
            // loop itself ran both handlers before it could see the stop.)
            #expect(responses[1].saysClose, "a stopping worker's answer closes: \(responses[1].rawHead)")
        }
        expectClosed(client)
        #expect(server.waitForExit(timeout: 10) == .exited(0), "after SIGTERM; stderr:\n\(server.logTail)")
    }

    @Test(arguments: ServerMode.all)
    func idleConnectionsAreClosedAndExitIsPrompt(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--shutdown-timeout", "10s"])
        let client = try connect(server)
        try client.send(Requests.get("/"))
        let response = try client.readResponse()
        #expect(response.status == 200)
        let (status, seconds) = measureSeconds { () -> ExitStatus? in
            server.terminate()
            return server.waitForExit(timeout: 10)
        }
        #expect(status == .exited(0), "after SIGTERM; stderr:\n\(server.logTail)")
        #expect(seconds < 5, "an idle keep-alive connection held the stop back")
        let (closed, data) = client.waitForClose(timeout: 2)
        #expect(closed)
        #expect(data.count == 0)
    }
}
