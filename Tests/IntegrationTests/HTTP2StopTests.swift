import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// HTTP/2 through a graceful stop and the master's restarts: GOAWAY names the last stream the
/// worker serves, those streams finish, then the connection closes; h2load sees no failed
/// stream while every worker is replaced.
@Suite(.exclusive) final class HTTP2StopTests: ServerSuite {
    @Test(arguments: ServerMode.all)
    func gracefulStopSendsGoawayAndFinishesStreams(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--shutdown-timeout", "10s"])
        let script = """
            \(HTTP2Tests.h2Client)
            import os, signal
            client = Client(sys.argv[1], sys.argv[2])
            ids = [client.send("GET", "/stream?chunks=2&pause-ms=600") for _ in range(3)]
            while not any(len(client.results.get(i, {}).get("body", "")) for i in ids):
                client.pump()   # a handler runs: the first chunk of a stream arrived
            os.kill(int(sys.argv[3]), signal.SIGTERM)
            got = client.collect(ids, until_closed=True)
            last = got["goaways"][-1]["last"]
            print(json.dumps({"goaways": got.get("goaways"), "closed": got.get("closed", False),
                              "bodies": [got.get(i, {}).get("body") for i in ids if i <= last],
                              "statuses": [got.get(i, {}).get("status") for i in ids if i <= last]}))
            """
        let run = try python(
            server, script, arguments: [server.transport.caFile ?? "", String(server.pid)], timeout: 20)
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
    /// The master's two ways of replacing every worker: USR2 (phased, one slot at a time) and
    /// HUP (hot: the master re-executes itself, new workers take the same sockets, the old
    /// ones drain).
    enum Restart: String, CaseIterable, Sendable {
        case phased, hot

        var signal: Int32 { self == .phased ? SIGUSR2 : SIGHUP }
    }

    /// A restart under h2load (h2c, 8 connections of 10 streams, 250 requests a second each,
    /// more requests than it has time for: h2load does not reconnect, so the GOAWAYs of the
    /// old workers end it): every worker replaced, and every stream h2load opened finished
    /// (its "started" equals its "done": none lost in flight) with a 200, or -1 when nghttp2
    /// refused to send it after a GOAWAY (a stream the last-stream-id covers is served, one
    /// above it never reached the server). h2load counts the requests it never sent as
    /// failed (an `nginx -s reload` under the same load shows the same): not ours to zero.
    /// The server's count of answers (its access log, a line per response from old and new
    /// images alike; for USR2 the cluster's stats too, which a hot restart's exec starts
    /// again from zero) equals h2load's 200s.
    @Test(arguments: Restart.allCases)
    func restartUnderH2loadFailsNoStream(_ restart: Restart) throws {
        let server = try startCluster(["-w", "2", "--metrics-bind", "tcp://127.0.0.1:0", "--access-log"])
        let metrics = metricsPort(server)
        let before = waitForRunningWorkers(2, phase: 0)
        let log = directory.appendingPathComponent("h2load.tsv").path
        let load = try spawn(
            "h2load",
            [
                "-n", "80000", "-c", "8", "-m", "10", "--rps", "250", "--log-file", log,
                "http://127.0.0.1:\(server.port)/",
            ],
            name: "h2load")
        func totals() -> [String: Any] { readStats()?["totals"] as? [String: Any] ?? [:] }
        #expect(waitUntil(timeout: 10) { (totals()["h2_streams"] as? Int ?? 0) >= 500 }, "h2load never got going")
        server.process.signal(restart.signal)
        switch restart {
        case .phased:
            waitForEvents(server, "phased restart finished")
        case .hot:
            waitForEvents(server, "hot restart: new master image running")
            waitForEvents(server, "old worker exited (hot restart)", count: 2)
        }
        _ = waitForRunningWorkers(2, phase: 1, excluding: Array(before.values))
        #expect(load.wait(timeout: 20) == .exited(0), "\(load.standardOutput)")
        let output = load.standardOutput
        #expect(!output.contains(" 0 2xx") && output.contains(" 0 3xx, 0 4xx, 0 5xx"), "\(output)")
        // "requests: N total, S started, D done, ...": the GOAWAYs ended the load (S < N), and
        // every stream started was done.
        let counts = output.split(separator: "\n").first { $0.hasPrefix("requests:") }.map {
            $0.split(separator: " ").compactMap { Int($0) }
        }
        #expect(
            counts.map { $0.count >= 3 && $0[1] < $0[0] && $0[1] == $0[2] } == true,
            "total, started, done: \(counts ?? [])")
        // Each stream h2load opened: its status, or -1 when nghttp2 refused to send it after
        // the GOAWAY (those never reached the server).
        let statuses = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map {
            $0.split(separator: "\t").dropFirst().first.map(String.init) ?? ""
        }
        let answered = statuses.filter { $0 == "200" }.count
        #expect(statuses.allSatisfy { $0 == "200" || $0 == "-1" }, "\(Set(statuses))")
        func logged() -> Int {
            server.standardOutput.split(separator: "\n").filter {
                $0.contains("\"http_version\":\"HTTP/2.0\"") && $0.contains("\"status\":200")
            }.count
        }
        #expect(waitUntil(timeout: 5) { logged() == answered }, "access log: \(logged()), h2load's 200s: \(answered)")
        if restart == .phased {  // counted by the cluster, the workers that exited included
            waitForMetrics(metrics, "\(answered) streams answered", timeout: 5) {
                $0.value("raptor_cluster_h2_streams_total") == Double(answered)
            }
        }
    }
}

/// The timeouts of HTTP/2, each on its own connection of one server: a stream that never
/// sends its body gets 408 while its connection goes on, a client that never opens its
/// window gets its stream reset (CANCEL), an idle connection a GOAWAY and the end.
@Suite(.exclusive) final class HTTP2TimeoutTests: ServerSuite {
    @Test(arguments: ServerMode.all)
    func streamAndConnectionTimeouts(_ mode: ServerMode) throws {
        let server = try startTestApp(
            mode,
            ["--body-timeout", "1s", "--write-timeout", "1s", "--keepalive-timeout", "1s", "--request-timeout", "5s"])
        let script = """
            \(HTTP2Tests.h2Client)
            import time
            report = {}
            client = Client(sys.argv[1], sys.argv[2])
            start = time.monotonic()
            silent = client.send("POST", "/echo", [("content-length", "10")], end=False)
            got = client.collect([silent])
            report["body_timeout"] = [got[silent].get("status"), round(time.monotonic() - start, 2)]
            after = client.send("GET", "/")
            report["after"] = client.collect([after])[after].get("status")
            client.close()

            client = Client(sys.argv[1], sys.argv[2], window=0)
            start = time.monotonic()
            stuck = client.send("GET", "/bytes?n=100000")
            got = client.collect([stuck])
            report["write_timeout"] = [got[stuck].get("status"), int(got[stuck].get("reset", -1)), round(time.monotonic() - start, 2)]
            # A streamed body (1.3 MB) into the same closed window: its writer waits on a full
            # buffer, never buffering the rest, until the stream is given up.
            start = time.monotonic()
            streamed = client.send("GET", "/stream?chunks=100000")
            got = client.collect([streamed])
            report["stream_stalled"] = [got[streamed].get("status"), int(got[streamed].get("reset", -1)), round(time.monotonic() - start, 2)]
            client.close()

            client = Client(sys.argv[1], sys.argv[2])
            start = time.monotonic()
            got = client.collect([], until_closed=True)
            report["idle"] = [got.get("goaways"), round(time.monotonic() - start, 2)]
            print(json.dumps(report))
            """
        let run = try python(server, script, arguments: [server.transport.caFile ?? ""], timeout: 30)
        #expect(run.succeeded, "\(run)")
        let report = try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as? [String: Any] ?? [:]
        let body = report["body_timeout"] as? [Double] ?? []
        // After the body timeout, well before the request deadline (5 s).
        #expect(
            body.first == 408 && (body.last ?? 0) >= 0.9 && (body.last ?? 9) < 4, "408 after --body-timeout: \(run)")
        #expect(report["after"] as? Int == 200, "the connection goes on: \(run)")
        let write = report["write_timeout"] as? [Double] ?? []
        #expect(
            write.count == 3 && write[0] == 200 && write[1] == 8 && write[2] >= 0.9,
            "CANCEL after --write-timeout: \(run)")
        let stalled = report["stream_stalled"] as? [Double] ?? []
        #expect(
            stalled.count == 3 && stalled[0] == 200 && [2, 8].contains(stalled[1]) && stalled[2] >= 0.9
                && stalled[2] < 4,
            // CANCEL from the loop's write timeout, or INTERNAL_ERROR when the writer's own wait
            // ends first (inline, the writer is the loop)
            "a streamed body into a closed window: reset after --write-timeout: \(run)")
        let idle = report["idle"] as? [Any] ?? []
        let goaways = idle.first as? [[String: Int]] ?? []
        #expect(goaways.count == 1 && goaways.first?["code"] == 0, "GOAWAY NO_ERROR when idle: \(run)")
        #expect((idle.last as? Double ?? 0) >= 0.9, "closed after --keepalive-timeout, not before: \(run)")
    }
}
