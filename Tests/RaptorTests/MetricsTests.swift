import CRaptor
import Testing

@testable import Raptor

/// The metrics server's pieces that need no process: names, the token, the histogram text,
/// health and readiness.
@Suite struct MetricNamesTests {
    /// Every stat that is a measurement has a family; names follow the Prometheus rules and
    /// never collide (a collision would make swift-prometheus stop the metrics server).
    @Test func everyStatHasOneFamilyOfItsOwn() {
        var names: Set<String> = []
        for stat in StatsRegion.allStats {
            let kind = rv_stat_kind_of(stat)
            guard let family = MetricNames.family(of: stat) else {
                #expect(kind == RV_STAT_KIND_IDENTITY, "\(StatsRegion.name(stat)) has no family")
                continue
            }
            #expect(family.name.hasPrefix("raptor_"))
            #expect(family.name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" })
            #expect(family.kind == .counter ? family.name.hasSuffix("_total") : !family.name.hasSuffix("_total"))
            let key = family.name + family.labels.map { "\($0)=\($1)" }.joined()
            #expect(names.insert(key).inserted, "two stats map to \(key)")
            #expect(!Self.masterNames.contains(family.cluster.name))
        }
    }

    /// What the master writes, which no stat's cluster family may take.
    static let masterNames: Set<String> = [
        "raptor_cluster_ready", "raptor_cluster_state", "raptor_cluster_workers_serving",
        "raptor_cluster_workers_configured", "raptor_cluster_phase", "raptor_cluster_worker_restarts_total",
        "raptor_cluster_request_duration_seconds",
    ]

    /// A stat another engineer adds shows up by its C name and kind alone.
    @Test(arguments: [
        ("tls_handshake_errors", RV_STAT_KIND_COUNTER, "raptor_tls_handshake_errors_total"),
        ("emfile_503", RV_STAT_KIND_COUNTER, "raptor_emfile_503_total"),
        ("retries_total", RV_STAT_KIND_COUNTER, "raptor_retries_total"),
        ("streams_open", RV_STAT_KIND_GAUGE, "raptor_streams_open"),
    ])
    func aNewStatIsNamedFromItsCName(name: String, kind: rv_stat_kind, expected: String) {
        let family = MetricNames.family(name: name, kind: kind)
        #expect(family?.name == expected)
        #expect(family?.cluster.name == expected.replacingOccurrences(of: "raptor_", with: "raptor_cluster_"))
    }

    @Test func statusClassesBecomeACodeLabel() {
        let family = MetricNames.family(name: "responses_4xx", kind: RV_STAT_KIND_COUNTER)
        #expect(family?.name == "raptor_requests_total")
        #expect(family?.labels.first?.0 == "code")
        #expect(family?.labels.first?.1 == "4xx")
        #expect(MetricNames.family(name: "pid", kind: RV_STAT_KIND_IDENTITY) == nil)
    }
}

@Suite struct BearerTokenTests {
    @Test(arguments: ["abc", "A-Z.a_z~0+9/", "dG9rZW4=", "x=="])
    func validTokens(token: String) { #expect(BearerToken.isValid(token)) }

    @Test(arguments: ["", "has space", "a=b", "=", "é", "tab\t", String(repeating: "a", count: 1025)])
    func invalidTokens(token: String) { #expect(!BearerToken.isValid(token)) }

    @Test(arguments: [
        ("Bearer s3cret", true), ("bearer s3cret", true), ("BEARER   s3cret", true), ("Bearer s3cre", false),
        ("Bearer s3crett", false), ("Bearer S3cret", false), ("Basic s3cret", false), ("Bearers3cret", false),
        ("s3cret", false), ("Bearer ", false), ("", false),
    ])
    func authorizationFields(field: String, accepted: Bool) {
        #expect(BearerToken("s3cret").accepts(authorization: field) == accepted)
    }

    @Test func absentFieldIsRefused() { #expect(!BearerToken("s3cret").accepts(authorization: nil)) }
}

@Suite struct DurationHistogramTextTests {
    @Test func bucketsAreCumulativeInSecondsThenInfSumAndCount() {
        var cell = rv_stats()
        rv_stats_observe_duration(&cell, 50)  // 100 us bucket
        rv_stats_observe_duration(&cell, 100)  // still <= 100 us
        rv_stats_observe_duration(&cell, 101)  // 250 us
        rv_stats_observe_duration(&cell, 20_000_000)  // above 10 s
        var histogram = DurationHistogramText(name: "h", help: "help")
        histogram.add(labels: [("worker", "0")], cell)
        var buffer: [UInt8] = []
        histogram.append(to: &buffer)
        let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines[0] == "# HELP h help")
        #expect(lines[1] == "# TYPE h histogram")
        #expect(lines[2] == "h_bucket{worker=\"0\",le=\"0.0001\"} 2")
        #expect(lines[3] == "h_bucket{worker=\"0\",le=\"0.00025\"} 3")
        #expect(lines.contains("h_bucket{worker=\"0\",le=\"10.0\"} 3"))
        #expect(lines.contains("h_bucket{worker=\"0\",le=\"+Inf\"} 4"))
        #expect(lines.contains("h_sum{worker=\"0\"} 20.000251"))
        #expect(lines.last == "h_count{worker=\"0\"} 4")
        #expect(lines.count == 2 + 17 + 2)
    }

    @Test func labelValuesAreEscaped() {
        var histogram = DurationHistogramText(name: "h", help: "help")
        histogram.add(labels: [("a", "x\"y\\z\nw")], rv_stats())
        var buffer: [UInt8] = []
        histogram.append(to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self).contains("h_count{a=\"x\\\"y\\\\z\\nw\"} 0"))
    }

    @Test func accumulateAddsCountersAndBucketsButNotGauges() {
        var worker = rv_stats()
        rv_stats_set(&worker, RV_STAT_REQUESTS, 7)
        rv_stats_set(&worker, RV_STAT_ACTIVE_CONNECTIONS, 3)
        rv_stats_set(&worker, RV_STAT_PID, 42)
        rv_stats_observe_duration(&worker, 1000)
        var retired = rv_stats()
        rv_stats_accumulate(&retired, &worker)
        rv_stats_accumulate(&retired, &worker)
        #expect(retired[RV_STAT_REQUESTS] == 14)
        #expect(retired[RV_STAT_ACTIVE_CONNECTIONS] == 0)
        #expect(retired[RV_STAT_PID] == 0)
        #expect(retired.durationBuckets[3] == 2)
        #expect(retired.durationSumMicroseconds == 2000)
    }
}

@Suite struct ClusterHealthTests {
    private func reading(ready: Bool, serving: UInt64, lifeCycle: String, heartbeat: Double) throws -> ClusterReading {
        let region = try StatsRegion(capacity: 1)
        region[.masterPid] = 10
        region[.ready] = ready ? 1 : 0
        region[.servingWorkers] = serving
        region[.lifeCycle] = UInt64(MasterLifeCycle.names.firstIndex(of: lifeCycle)!)
        region[.heartbeat] = UInt64(heartbeat * 1000)
        return ClusterReading(region)
    }

    @Test func healthyAndReady() throws {
        let health = ClusterHealth(
            try reading(ready: true, serving: 2, lifeCycle: "serving", heartbeat: 100), masterIsParent: true,
            monotonicNow: 100.5)
        #expect(health.unhealthy == nil)
        #expect(health.unready == nil)
    }

    @Test func drainingIsHealthyButNotReady() throws {
        let health = ClusterHealth(
            try reading(ready: false, serving: 2, lifeCycle: "draining", heartbeat: 100), masterIsParent: true,
            monotonicNow: 100.5)
        #expect(health.unhealthy == nil)
        #expect(health.unready == "draining")
    }

    @Test func aSilentOrGoneMasterOrNoWorkerIsUnhealthy() throws {
        let stuck = ClusterHealth(
            try reading(ready: true, serving: 2, lifeCycle: "serving", heartbeat: 100), masterIsParent: true,
            monotonicNow: 106)
        #expect(stuck.unhealthy == "the master has not turned its loop for 6 s")
        #expect(stuck.unready == stuck.unhealthy)
        let orphan = ClusterHealth(
            try reading(ready: true, serving: 2, lifeCycle: "serving", heartbeat: 100), masterIsParent: false,
            monotonicNow: 100)
        #expect(orphan.unhealthy == "the master (pid 10) is gone")
        let idle = ClusterHealth(
            try reading(ready: false, serving: 0, lifeCycle: "serving", heartbeat: 100), masterIsParent: true,
            monotonicNow: 100)
        #expect(idle.unhealthy == "no worker serves")
    }
}
