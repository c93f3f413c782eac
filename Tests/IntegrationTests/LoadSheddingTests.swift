import Testing

/// `--max-pending`: past that many requests waiting for an app thread, new ones get a
/// prebuilt 503 with `Retry-After: 1` and the connection closes.
///
/// Only the pool mode has app threads to wait for; inline (`--threads 0`) nothing ever
/// waits, so nothing may be shed there.
/// Exclusive: whether a request is shed depends on when the others arrive and finish.
@Suite(.exclusive) final class LoadSheddingTests: ServerSuite {
    /// Sends /slow?ms=`ms` on `count` connections at once; returns the responses in
    /// connection order.
    func concurrentSlowRequests(_ server: ServerProcess, count: Int, ms: Int) throws -> [(
        RawClient, HTTPResponseMessage
    )] {
        let clients = try (0..<count).map { _ in try connect(server, timeout: 20) }
        for client in clients { try client.send(Requests.get("/slow?ms=\(ms)")) }
        return try clients.map { ($0, try $0.readResponse(timeout: 20)) }
    }

    @Test(arguments: ServerMode.modes(.pool))
    func someRequestsGet503WithRetryAfter(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--threads", "1", "--max-pending", "1"])
        let results = try concurrentSlowRequests(server, count: 8, ms: 500)
        let statuses = results.map(\.1.status)
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 503 }, "statuses: \(statuses)")
        #expect((statuses.filter { $0 == 200 }.count) >= 1, "statuses: \(statuses)")
        #expect((statuses.filter { $0 == 503 }.count) >= 1, "nothing was shed: \(statuses)")
        for (client, response) in results where response.status == 503 {
            #expect(response.header("Retry-After") == "1", "\(response.rawHead)")
            expectClosed(client, "after a 503 for load shedding")
        }
        for (_, response) in results where response.status == 200 {
            #expect(response.bodyText == "slow done\n")
        }
        // Once the load is gone, requests are served again.
        let status = try exchange(server, Requests.get("/")).status
        #expect(status == 200)
    }

    @Test(arguments: ServerMode.modes(.inline))
    func nothingIsShedWithoutAppThreads(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--threads", "0", "--max-pending", "1"])
        let results = try concurrentSlowRequests(server, count: 4, ms: 200)
        #expect(results.map(\.1.status) == [200, 200, 200, 200])
    }
}
