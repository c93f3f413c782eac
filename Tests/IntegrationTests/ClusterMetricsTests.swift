import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `--metrics-bind`: `/metrics` for every worker and the whole cluster, `/healthz` and
/// `/readyz`, from the shared memory, served by the master's metrics server.
@Suite(.exclusive) final class ClusterMetricsTests: ClusterSuite {
    private let metricsFlags = ["--metrics-bind", "tcp://127.0.0.1:0"]

    @Test func metricsCountEachWorkerAndTheWholeCluster() throws {
        let server = try startCluster(["-w", "2"] + metricsFlags)
        let port = metricsPort(server)
        let pids = waitForRunningWorkers(2)
        for _ in 0..<20 { #expect(get(server.port, "/") == 200) }
        for _ in 0..<5 { #expect(get(server.port, "/no-such-route") == 404) }
        #expect(get(server.port, "/status?code=503") == 503)
        let client = try RawClient(port: server.port)
        try client.send("GET / HTTP/1.1\r\nHo st: x\r\n\r\n")  // the parser refuses it: 400
        try expectEqual(client.readResponse().status, 400)
        client.close()

        let metrics = waitForMetrics(port, "26 answered requests") {
            $0.value("raptor_cluster_requests_total", ["code": "2xx"]) == 20
                && $0.value("raptor_cluster_requests_total", ["code": "4xx"]) == 6
                && $0.value("raptor_cluster_request_duration_seconds_count") == 26
        }
        #expect(metrics.value("raptor_cluster_requests_total", ["code": "5xx"]) == 1)
        #expect(metrics.value("raptor_cluster_parse_errors_total") == 1)
        // Per worker: one series per process, labelled with its slot and pid, adding up to
        // the cluster's total.
        for (slot, pid) in pids {
            let labels = ["worker": "\(slot)", "pid": "\(pid)"]
            #expect(metrics.value("raptor_requests_completed_total", labels) != nil, "\(labels)")
            #expect((metrics.value("raptor_resident_memory_bytes", labels) ?? 0) > 1_048_576)
            #expect((metrics.value("raptor_uptime_seconds", labels) ?? 0) > 0)
            #expect(metrics.value("raptor_threads", labels) == 4)
        }
        #expect(metrics.sum("raptor_requests_total", ["code": "2xx"]) == 20)
        #expect((metrics.value("raptor_cluster_received_bytes_total") ?? 0) > (26 * 30))
        #expect((metrics.value("raptor_cluster_sent_bytes_total") ?? 0) > (26 * 60))
        #expect(metrics.value("raptor_cluster_ready") == 1)
        #expect(metrics.value("raptor_cluster_workers_serving") == 2)
        #expect(metrics.value("raptor_cluster_state", ["state": "serving"]) == 1)
        #expect(metrics.types["raptor_cluster_request_duration_seconds"] == "histogram")
        #expect(metrics.types["raptor_cluster_requests_total"] == "counter")
        #expect(metrics.types["raptor_open_connections"] == "gauge")

        // The histogram: cumulative buckets ending in +Inf = count; durations are real.
        let buckets = metrics.samples("raptor_cluster_request_duration_seconds_bucket")
            .map { (Double($0.labels["le"]!.replacingOccurrences(of: "+Inf", with: "inf"))!, $0.value) }
            .sorted { $0.0 < $1.0 }
        #expect(buckets.count == 17)
        #expect(buckets.last?.1 == 26)
        #expect((zip(buckets, buckets.dropFirst()).filter { $0.1 > $1.1 }.count) == 0, "\(buckets)")
        let sum = metrics.value("raptor_cluster_request_duration_seconds_sum") ?? -1
        #expect(sum > 0)
        #expect(sum < (26 * 5.0))
    }

    /// A slow request lands in the bucket of its duration.
    @Test func theHistogramMeasuresTheRequestsDuration() throws {
        let server = try startCluster(["-w", "1"] + metricsFlags)
        let port = metricsPort(server)
        waitForRunningWorkers(1)
        #expect(get(server.port, "/slow?ms=300") == 200)
        let metrics = waitForMetrics(port, "one request") {
            $0.value("raptor_cluster_request_duration_seconds_count") == 1
        }
        #expect(metrics.value("raptor_cluster_request_duration_seconds_bucket", ["le": "0.25"]) == 0)
        #expect(metrics.value("raptor_cluster_request_duration_seconds_bucket", ["le": "0.5"]) == 1)
        let sum = metrics.value("raptor_cluster_request_duration_seconds_sum") ?? 0
        #expect(sum >= 0.3)
        #expect(sum < 0.5)
    }

    /// promtool (the Prometheus project's own checker) reads the whole document and finds
    /// nothing against its naming conventions.
    static let promtool = Binaries.repositoryRoot.appendingPathComponent(".build/tools/promtool").path

    @Test(
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: Self.promtool),
            "promtool not found at .build/tools/promtool: run `make test-deps`"))
    func promtoolAcceptsTheExposition() throws {
        let promtool = Self.promtool
        let server = try startCluster(["-w", "2"] + metricsFlags)
        let port = metricsPort(server)
        waitForRunningWorkers(2)
        for _ in 0..<5 { #expect(get(server.port, "/") == 200) }
        let text = scrape(port).text
        let input = directory.appendingPathComponent("metrics.txt").path
        try text.write(toFile: input, atomically: true, encoding: .utf8)
        let result = try ExternalClient.run(
            "/bin/sh", ["-c", "'\(promtool)' check metrics < '\(input)'"], timeout: 30, outputDirectory: directory)
        // promtool prints each problem (a parse error, or a name against the conventions)
        // and exits 1; nothing printed and 0 is a clean document.
        #expect(result.succeeded, "\(result)")
        #expect((result.standardOutput + result.standardError) == "", "\(result)")
    }

    @Test func tokenGuardsMetricsButNotHealthChecks() throws {
        let server = try startCluster(["-w", "1", "--metrics-token", "s3cr3t-T0ken"] + metricsFlags)
        let port = metricsPort(server)
        waitForRunningWorkers(1)
        for fields in [
            "", "Authorization: Bearer wrong\r\n", "Authorization: Bearer s3cr3t-T0ke\r\n",
            "Authorization: Bearer s3cr3t-T0ken0\r\n", "Authorization: Basic czNjcjN0LVQwa2Vu\r\n",
            "Authorization: s3cr3t-T0ken\r\n",
        ] {
            let response = metricsRequest(port, "/metrics", fields: fields)
            #expect(response?.status == 401, "\(fields)")
            #expect(response?.header("WWW-Authenticate") == "Bearer realm=\"metrics\"", "\(fields)")
            #expect(!(response?.bodyText.contains("raptor_") ?? true), "\(fields)")
        }
        for fields in ["Authorization: Bearer s3cr3t-T0ken\r\n", "Authorization: bearer   s3cr3t-T0ken\r\n"] {
            let response = metricsRequest(port, "/metrics", fields: fields)
            #expect(response?.status == 200, "\(fields)")
            #expect(response?.bodyText.contains("raptor_cluster_ready 1") ?? false, "\(fields)")
        }
        #expect(metricsRequest(port, "/healthz")?.status == 200)
        #expect(metricsRequest(port, "/readyz")?.status == 200)
    }

    @Test func metricsServerAnswersOnlyItsRoutesAndMethods() throws {
        let server = try startCluster(["-w", "1"] + metricsFlags)
        let port = metricsPort(server)
        waitForRunningWorkers(1)
        #expect(metricsRequest(port, "/")?.status == 404)
        #expect(metricsRequest(port, "/metrics/x")?.status == 404)
        let post = metricsRequest(port, "/metrics", method: "POST", fields: "Content-Length: 0\r\n")
        #expect(post?.status == 405)
        #expect(post?.header("Allow") == "GET, HEAD")
        let head = metricsRequest(port, "/readyz", method: "HEAD")
        #expect(head?.status == 200)
        #expect(head?.body.count == 0)
        let metrics = metricsRequest(port, "/metrics")
        #expect(metrics?.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        // The application's port serves the application, never the metrics.
        #expect(get(server.port, "/metrics") == 404)
        // A scrape is not a request of the application.
        let scraped = waitForMetrics(port, "the scrapes not counted") { _ in true }
        #expect(scraped.value("raptor_cluster_requests_total", ["code": "2xx"]) == 0)
    }

    /// /readyz is 503 until every worker has booted; the metrics server answers from the
    /// start.
    @Test func readinessWaitsForEveryWorkerToBoot() throws {
        let server = try startCluster(
            ["-w", "2"] + metricsFlags, environment: ["RAPTOR_TESTAPP_BOOT_DELAY_MS": "2500"])
        let port = metricsPort(server)
        var starting: HTTPResponseMessage?
        #expect(
            waitUntil(timeout: 2) {
                starting = metricsRequest(port, "/readyz", timeout: 1)
                return starting != nil
            })
        #expect(starting?.status == 503)
        #expect(starting?.bodyText == "not ready: no worker serves\n")
        #expect(metricsRequest(port, "/healthz")?.status == 503)
        waitForStats("not ready while the workers boot") {
            $0["ready"] as? Bool == false && $0["state"] as? String == "starting"
        }
        waitForRunningWorkers(2)
        #expect(waitUntil(timeout: 5) { metricsRequest(port, "/readyz")?.status == 200 })
        #expect(metricsRequest(port, "/healthz")?.bodyText == "ok\n")
    }

    /// Workers that stop answering (SIGSTOP: no heartbeat) make the host unhealthy and
    /// unready; they are healthy again when they resume.
    @Test func healthFailsWhenNoWorkerServes() throws {
        let server = try startCluster(["-w", "2", "--worker-timeout", "60s"] + metricsFlags)
        let port = metricsPort(server)
        let pids = waitForRunningWorkers(2)
        #expect(metricsRequest(port, "/healthz")?.status == 200)
        for pid in pids.values { kill(pid, SIGSTOP) }
        defer { for pid in pids.values { kill(pid, SIGCONT) } }
        #expect(waitUntil(timeout: 15) { metricsRequest(port, "/healthz")?.status == 503 })
        #expect(metricsRequest(port, "/healthz")?.bodyText == "unhealthy: no worker serves\n")
        #expect(metricsRequest(port, "/readyz")?.status == 503)
        for pid in pids.values { kill(pid, SIGCONT) }
        #expect(waitUntil(timeout: 10) { metricsRequest(port, "/readyz")?.status == 200 })
    }

    /// TERM with --drain-delay: /readyz turns 503 at once, the stats file and `stats` say
    /// draining, the application's listeners go on accepting and answering for the delay,
    /// then the cluster stops.
    @Test func drainDelayTurnsReadinessOffFirstAndKeepsServing() throws {
        let server = try startCluster(["-w", "2", "--drain-delay", "3s"] + metricsFlags)
        let port = metricsPort(server)
        waitForRunningWorkers(2)
        #expect(metricsRequest(port, "/readyz")?.status == 200)
        let signalled = Date()
        server.terminate()
        #expect(waitUntil(timeout: 1) { metricsRequest(port, "/readyz")?.status == 503 })
        #expect(metricsRequest(port, "/readyz")?.bodyText == "not ready: draining\n")
        #expect(metricsRequest(port, "/healthz")?.status == 200)
        waitForStats("draining") { $0["state"] as? String == "draining" && $0["ready"] as? Bool == false }
        let table = try ExternalClient.run(
            Binaries.raptorEV, ["stats", "--stats-file", statsPath], timeout: 10, outputDirectory: directory)
        #expect(table.standardOutput.contains("draining, not ready"), "\(table)")
        // New connections are still accepted and answered until the delay is over.
        var answered = 0
        while Date().timeIntervalSince(signalled) < 2.5 {
            #expect(get(server.port, "/") == 200)
            answered += 1
            usleep(100_000)
        }
        #expect(answered > 5)
        #expect(server.waitForExit(timeout: 15) == .exited(0))
        #expect(Date().timeIntervalSince(signalled) >= 3)
        let shutdown = events(server, "shutting down").first
        #expect((shutdown?["drain_delay"] as? String) == "over")
    }

    @Test func aSecondSignalEndsTheDrainDelay() throws {
        let server = try startCluster(["-w", "1", "--drain-delay", "60s"] + metricsFlags)
        waitForRunningWorkers(1)
        server.terminate()
        waitForEvents(server, "draining: not ready, still serving")
        let signalled = Date()
        server.process.signal(SIGTERM)
        #expect(server.waitForExit(timeout: 15) == .exited(0))
        #expect(Date().timeIntervalSince(signalled) < 10)
        #expect((events(server, "shutting down").first?["drain_delay"] as? String) == "cut short")
    }

    /// Restarts are counted by reason; the cluster's counters keep what replaced workers
    /// counted (they never go down).
    @Test func restartsAreCountedByReasonAndTotalsNeverGoDown() throws {
        let server = try startCluster(["-w", "2"] + metricsFlags)
        let port = metricsPort(server)
        let first = waitForRunningWorkers(2)
        for _ in 0..<10 { #expect(get(server.port, "/") == 200) }
        waitForMetrics(port, "10 requests") { $0.value("raptor_cluster_requests_total", ["code": "2xx"]) == 10 }

        kill(first[0]!, SIGKILL)
        let second = waitForRunningWorkers(2, excluding: [first[0]])
        var metrics = waitForMetrics(port, "a crash") {
            $0.value("raptor_cluster_worker_restarts_total", ["reason": "crash"]) == 1
        }
        #expect(metrics.value("raptor_cluster_requests_total", ["code": "2xx"]) == 10)

        server.process.signal(SIGUSR2)
        waitForRunningWorkers(2, phase: 1, excluding: Array(second.values))
        metrics = waitForMetrics(port, "a phased restart") {
            $0.value("raptor_cluster_worker_restarts_total", ["reason": "phased_restart"]) == 2
        }
        #expect(metrics.value("raptor_cluster_requests_total", ["code": "2xx"]) == 10)
        #expect(metrics.value("raptor_cluster_request_duration_seconds_count") == 10)
        #expect(metrics.value("raptor_cluster_worker_restarts_total", ["reason": "crash"]) == 1)
        #expect(metrics.value("raptor_cluster_phase") == 1)
        let restarts = readStats()?["restarts"] as? [String: Int]
        #expect(restarts?["phased_restart"] == 2)
        #expect(restarts?["crash"] == 1)
    }

    @Test func metricsServerIsStartedAgainIfItDies() throws {
        let server = try startCluster(["-w", "1"] + metricsFlags)
        let port = metricsPort(server)
        waitForRunningWorkers(1)
        let started = waitForEvents(server, "metrics server booted")
        let pid = pid_t(started.first?["pid"] as? String ?? "") ?? 0
        #expect(pid > 0)
        kill(pid, SIGKILL)
        waitForEvents(server, "metrics server booted", count: 2)
        #expect(metricsRequest(port, "/readyz")?.status == 200)
        #expect(get(server.port, "/") == 200)
    }

    /// HUP: the metrics listener is handed over like the others (same port, never closed),
    /// the new image's metrics server takes over, and the replaced workers are counted.
    @Test func hotRestartKeepsTheMetricsListener() throws {
        let server = try startCluster(["-w", "2"] + metricsFlags)
        let port = metricsPort(server)
        let before = waitForRunningWorkers(2)
        let oldMetricsServer = pid_t(waitForEvents(server, "metrics server booted").first?["pid"] as? String ?? "") ?? 0
        server.process.signal(SIGHUP)
        waitForEvents(server, "hot restart: new master image running")
        var refused = 0
        waitUntil(timeout: 20, interval: 0.05) {
            guard let response = metricsRequest(port, "/metrics") else {
                refused += 1
                return false
            }
            return Exposition(response.bodyText).value(
                "raptor_cluster_worker_restarts_total", ["reason": "hot_restart"]) == 2
        }
        #expect(refused == 0, "the metrics port refused connections during the hot restart")
        waitForRunningWorkers(2, phase: 1, excluding: Array(before.values))
        #expect(metricsRequest(port, "/readyz")?.status == 200)
        #expect(waitUntil(timeout: 10) { isGone(oldMetricsServer) }, "the old image's metrics server stops")
        #expect(waitForEvents(server, "metrics server booted", count: 2).count == 2)
    }
}
