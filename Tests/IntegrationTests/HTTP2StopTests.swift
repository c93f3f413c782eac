import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// HTTP/2 through a graceful stop and a phased restart: GOAWAY names the last stream the
/// worker serves, those streams finish, then the connection closes; h2load sees no failed
/// stream while every worker is replaced.
@Suite(.exclusive) final class HTTP2StopTests: ServerSuite {
    @Test(arguments: ServerMode.all)
    func gracefulStopSendsGoawayAndFinishesStreams(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--shutdown-timeout", "10s"])
        let script = """
            \(HTTP2Tests.h2Client)
            import os, signal
            sock, conn = open_h2(sys.argv[1], sys.argv[2])
            ids = [send(sock, conn, "GET", "/stream?chunks=2&pause-ms=600") for _ in range(3)]
            while not any(len(conn.results.get(i, {}).get("body", "")) for i in ids):
                pump(sock, conn)   # a handler runs: the first chunk of a stream arrived
            os.kill(int(sys.argv[3]), signal.SIGTERM)
            got = collect(sock, conn, ids, until_closed=True)
            last = got["goaways"][-1]["last"]
            print(json.dumps({"goaways": got.get("goaways"), "closed": got.get("closed", False),
                              "bodies": [got.get(i, {}).get("body") for i in ids if i <= last],
                              "statuses": [got.get(i, {}).get("status") for i in ids if i <= last]}))
            """
        let run = try python(server, script, arguments: [server.transport.caFile ?? "", String(server.pid)], timeout: 20)
        #expect(run.succeeded, "\(run)")
        let summary = try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as? [String: Any] ?? [:]
        // First a notice (the largest id: no new stream, please), then the last stream served.
        let goaways = summary["goaways"] as? [[String: Int]] ?? []
        #expect(goaways.count == 2 && goaways.allSatisfy { $0["code"] == 0 }, "\(run)")
        #expect(goaways.first?["last"] == Int(Int32.max), "\(run)")
        let last = goaways.last?["last"] ?? 0
        #expect(last >= 1, "the stream in flight is served: \(run)")
        // Every stream up to the last is answered whole (inline, the streams after the first
        // may come after the notice: the client may send them again elsewhere).
        let served = (summary["bodies"] as? [String])?.count ?? 0
        #expect(served == (last + 1) / 2, "\(run)")
        #expect(summary["bodies"] as? [String] == Array(repeating: "chunk 0\nchunk 1\n", count: served), "\(run)")
        #expect(summary["statuses"] as? [Int] == Array(repeating: 200, count: served), "\(run)")
        #expect(summary["closed"] as? Bool == true, "the connection closes after its streams: \(run)")
        #expect(server.waitForExit(timeout: 10) == .exited(0), "\(server.logTail)")
        server.stop()  // the script stopped it (it had to, between two frames): not a crash
    }
}

@Suite(.exclusive) final class HTTP2RestartTests: ClusterSuite {
    /// USR2 under h2load (h2c, 8 connections of 10 streams): every worker replaced, not one
    /// stream failed.
    @Test func phasedRestartUnderH2loadFailsNoStream() throws {
        let server = try startCluster(["-w", "2"])
        let before = waitForRunningWorkers(2, phase: 0)
        let load = try spawn(
            "h2load", ["-D", "6", "-c", "8", "-m", "10", "http://127.0.0.1:\(server.port)/"], name: "h2load")
        #expect(waitUntil(timeout: 10) { ((readStats()?["totals"] as? [String: Any])?["requests"] as? Int ?? 0) >= 1000 }, "h2load never got going")
        server.process.signal(SIGUSR2)
        waitForEvents(server, "phased restart finished")
        _ = waitForRunningWorkers(2, phase: 1, excluding: Array(before.values))
        #expect(load.isRunning, "h2load ended before the restart did: the test proves nothing")
        #expect(load.wait(timeout: 20) == .exited(0), "\(load.standardOutput)")
        let output = load.standardOutput
        #expect(output.contains(" 0 failed, 0 errored, 0 timeout"), "\(output)")
        #expect(output.contains("status codes: ") && !output.contains(" 0 2xx"), "\(output)")
    }
}
