internal import CRaptor
// Internal: nothing of it is in Raptor's interface. A client still loads the module (Raptor
// is built without library evolution), so packaging/install.sh installs it.
internal import Prometheus

#if canImport(Glibc)
    import Glibc
#endif

/// `/metrics`: a `ClusterReading` in the Prometheus text format (0.0.4). Counters and
/// gauges go through swift-prometheus's registry (names, labels, escaping, HELP and
/// TYPE lines); the request-duration histograms are written by `DurationHistogramText`,
/// because swift-prometheus 2.4 can only build a histogram by recording observations one
/// at a time, and these buckets were counted by the engine in the shared memory.
enum MetricsExposition {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The whole document; `now` is wall-clock seconds (for uptimes).
    static func render(_ reading: ClusterReading, now: Double) -> [UInt8] {
        let registry = PrometheusCollectorRegistry()
        let families = StatsRegion.allStats.compactMap { stat in MetricNames.family(of: stat).map { (stat, $0) } }

        for cell in reading.workers {
            let labels = workerLabels(cell)
            for (stat, family) in families { record(registry, family, labels: labels, cell[stat]) }
            registry.makeGauge(
                descriptor: descriptor("raptor_uptime_seconds", "Seconds since the worker process was started"),
                labels: labels
            ).set(to: max(0, now - Double(cell[RV_STAT_STARTED_AT])))
        }

        for (stat, family) in families {
            var total = reading.workers.reduce(UInt64(0)) { $0 &+ $1[stat] }
            if family.kind == .counter { total &+= reading.retired[stat] }
            record(registry, family.cluster, labels: [], total)
        }
        recordMaster(registry, reading, now: now)

        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 << 10)
        registry.emit(into: &buffer)
        var histograms = DurationHistogramText(
            name: "raptor_request_duration_seconds",
            help: "Time from the first byte of a request to the end of the application's response")
        for cell in reading.workers { histograms.add(labels: workerLabels(cell), cell) }
        histograms.append(to: &buffer)
        var cluster = DurationHistogramText(
            name: "raptor_cluster_request_duration_seconds",
            help: histograms.help + " (every worker, including those that exited)")
        cluster.add(labels: [], reading.workers + [reading.retired])
        cluster.append(to: &buffer)
        return buffer
    }

    /// A name used as given (no namespace or unit is added).
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    private static func workerLabels(_ cell: rv_stats) -> [(String, String)] {
        [("worker", String(cell[RV_STAT_INDEX])), ("pid", String(cell[RV_STAT_PID]))]
    }

    private static func record(
        _ registry: PrometheusCollectorRegistry, _ family: MetricNames.Family, labels: [(String, String)],
        _ value: UInt64
    ) {
        let labels = labels + family.labels
        switch family.kind {
        case .counter:
            registry.makeCounter(descriptor: descriptor(family.name, family.help), labels: labels)
                .increment(by: Int64(clamping: value))
        case .gauge:
            registry.makeGauge(descriptor: descriptor(family.name, family.help), labels: labels).set(to: Double(value))
        }
    }

    /// What only the master knows: its state, readiness, workers, restarts.
    private static func recordMaster(_ registry: PrometheusCollectorRegistry, _ reading: ClusterReading, now: Double) {
        func gauge(_ name: String, _ help: String, _ value: Double, labels: [(String, String)] = []) {
            registry.makeGauge(descriptor: descriptor(name, help), labels: labels).set(to: value)
        }
        gauge("raptor_cluster_ready", "1 while the cluster takes traffic (/readyz answers 200)", reading.ready ? 1 : 0)
        for state in MasterLifeCycle.names {
            gauge(
                "raptor_cluster_state", "The master's state: 1 for the current one",
                state == reading.lifeCycle ? 1 : 0, labels: [("state", state)])
        }
        gauge(
            "raptor_cluster_workers_serving", "Workers booted, not stopping, with a fresh heartbeat",
            Double(reading.servingWorkers))
        gauge(
            "raptor_cluster_workers_configured", "Worker slots (--workers, TTIN, TTOU)",
            Double(reading.workersConfigured))
        gauge("raptor_cluster_phase", "Restart generation: +1 at every phased or hot restart", Double(reading.phase))
        gauge(
            "raptor_master_uptime_seconds", "Seconds since this master image started",
            max(0, now - Double(reading.masterStartedAt)))
        for (reason, count) in reading.restarts {
            registry.makeCounter(
                descriptor: descriptor(
                    "raptor_cluster_worker_restarts_total", "Workers replaced or started again, by reason"),
                labels: [("reason", reason.rawValue)]
            ).increment(by: Int64(clamping: count))
        }
    }
}

/// One histogram family in the text format, from buckets counted elsewhere: cumulative
/// `_bucket` lines (`le` in seconds, then `+Inf`), `_sum` and `_count`, the same lines
/// swift-prometheus writes for the histograms it records itself.
struct DurationHistogramText {
    let name: String
    let help: String
    private var series: [(labels: [(String, String)], buckets: [UInt64], sum: UInt64)] = []

    init(name: String, help: String) {
        self.name = name
        self.help = help
    }

    /// The bounds in seconds, from the engine's microseconds.
    static let bounds: [String] = (0..<UInt32(RV_DURATION_BOUNDS)).map { index in
        "\(Double(rv_duration_bound_us(index)) / 1e6)"
    }

    /// One series: the sum of `cells`' buckets.
    mutating func add(labels: [(String, String)], _ cells: [rv_stats]) {
        var buckets = [UInt64](repeating: 0, count: Self.bounds.count + 1)
        var sum: UInt64 = 0
        for cell in cells {
            for (index, count) in cell.durationBuckets.enumerated() { buckets[index] &+= count }
            sum &+= cell.durationSumMicroseconds
        }
        series.append((labels, buckets, sum))
    }

    mutating func add(labels: [(String, String)], _ cell: rv_stats) { add(labels: labels, [cell]) }

    func append(to buffer: inout [UInt8]) {
        guard !series.isEmpty else { return }
        buffer += Array("# HELP \(name) \(help)\n# TYPE \(name) histogram\n".utf8)
        for (labels, buckets, sum) in series {
            var cumulative: UInt64 = 0
            for (index, count) in buckets.enumerated() {
                cumulative &+= count
                let bound = index < Self.bounds.count ? Self.bounds[index] : "+Inf"
                line(&buffer, "_bucket", labels + [("le", bound)], String(cumulative))
            }
            line(&buffer, "_sum", labels, "\(Double(sum) / 1e6)")
            line(&buffer, "_count", labels, String(cumulative))
        }
    }

    private func line(_ buffer: inout [UInt8], _ suffix: String, _ labels: [(String, String)], _ value: String) {
        buffer += Array(name.utf8) + Array(suffix.utf8)
        if !labels.isEmpty {
            buffer.append(UInt8(ascii: "{"))
            for (index, (key, value)) in labels.enumerated() {
                if index > 0 { buffer.append(UInt8(ascii: ",")) }
                buffer += Array(key.utf8) + Array("=\"".utf8)
                for byte in value.utf8 {  // the text format's escapes in label values
                    switch byte {
                    case UInt8(ascii: "\\"): buffer += Array("\\\\".utf8)
                    case UInt8(ascii: "\""): buffer += Array("\\\"".utf8)
                    case UInt8(ascii: "\n"): buffer += Array("\\n".utf8)
                    default: buffer.append(byte)
                    }
                }
                buffer.append(UInt8(ascii: "\""))
            }
            buffer.append(UInt8(ascii: "}"))
        }
        buffer += Array(" \(value)\n".utf8)
    }
}
