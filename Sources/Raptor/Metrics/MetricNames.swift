internal import CRaptor

/// The Prometheus name of each engine stat, derived from its C name and kind
/// (`rv_stat_name`, `rv_stat_kind_of`), so a stat added to the enum in raptor.h appears in
/// `/metrics` with no change here: a counter `foo_errors` as `raptor_foo_errors_total`, a
/// gauge `foo_depth` as `raptor_foo_depth`.
///
/// The table below only renames stats whose C name does not say its unit the Prometheus
/// way (`bytes_read` is `raptor_received_bytes_total`) and writes their help; stats named
/// `<base>_1xx` to `<base>_5xx` become one family with a `code` label.
///
/// Every family exists twice: per worker process (`raptor_…{worker="0",pid="4242"}`), and
/// for the whole cluster (`raptor_cluster_…`), where counters also hold what the workers
/// that exited counted, so a cluster total never goes down when a worker is replaced.
/// (Summing the per-worker series instead would lose the last counts of each worker that
/// exited, and putting both in one family would count everything twice in a `sum()`.)
enum MetricNames {
    enum Kind: Sendable {
        case counter, gauge
    }

    /// One stat's family.
    struct Family: Sendable {
        var name: String
        var help: String
        var kind: Kind
        /// Labels of the stat within its family (`code="2xx"`).
        var labels: [(String, String)]

        /// The same family summed over the cluster.
        var cluster: Family {
            var family = self
            family.name = "raptor_cluster_" + name.dropFirst("raptor_".count)
            family.help = help + (kind == .counter ? " (every worker, including those that exited)" : " (every worker)")
            return family
        }
    }

    /// Renamed stats: (name, help).
    private static let known: [String: (String, String)] = [
        "requests": ("raptor_requests_completed_total", "Requests whose response was written in full"),
        "bytes_read": ("raptor_received_bytes_total", "Bytes received from clients"),
        "bytes_written": ("raptor_sent_bytes_total", "Bytes sent to clients"),
        "active_connections": ("raptor_open_connections", "Open client connections"),
        "keepalive_connections": ("raptor_idle_connections", "Open connections idle between two requests"),
        "backlog": ("raptor_backlog_requests", "Requests waiting for an app thread"),
        "busy_threads": ("raptor_busy_threads", "App threads running a handler"),
        "thread_capacity": ("raptor_threads", "App threads (--threads)"),
        "parse_errors": (
            "raptor_parse_errors_total", "Requests refused by the parser (400, 413, 414, 417, 431, 501, 505)"
        ),
        "timeouts": ("raptor_timeouts_total", "Connections ended by a timeout (408 or a silent close)"),
        "shed_503": ("raptor_shed_requests_total", "Requests shed with 503 past --max-pending"),
        "accept_pauses": ("raptor_accept_pauses_total", "Times accepting stopped for backpressure"),
        "rss_bytes": ("raptor_resident_memory_bytes", "Resident memory of the worker process"),
        "tls_handshake_errors": (
            "raptor_tls_handshake_errors_total",
            "TLS handshakes that failed or never completed (each logged at debug level only)"
        ),
        "h2_connections": (
            "raptor_h2_connections_total", "Connections that spoke HTTP/2 (h2 chosen by ALPN, or h2c by its preface)"
        ),
        "h2_streams": ("raptor_h2_streams_total", "HTTP/2 requests (streams) answered; each counts in requests too"),
    ]

    /// The family of `stat`; nil for identity fields (pid, slot, phase, times), which
    /// become labels and the uptime instead.
    static func family(of stat: rv_stat) -> Family? {
        family(name: String(cString: rv_stat_name(stat)), kind: rv_stat_kind_of(stat))
    }

    static func family(name: String, kind: rv_stat_kind) -> Family? {
        let metricKind: Kind
        switch kind {
        case RV_STAT_KIND_COUNTER: metricKind = .counter
        case RV_STAT_KIND_GAUGE: metricKind = .gauge
        default: return nil
        }
        if let (metric, help) = known[name] {
            return Family(name: metric, help: help, kind: metricKind, labels: [])
        }
        if let (base, code) = statusClass(name) {
            let metric = base == "responses" ? "raptor_requests_total" : "raptor_\(base)_total"
            let help = base == "responses" ? "Responses by status class" : "\(base) by status class"
            return Family(name: metric, help: help, kind: metricKind, labels: [("code", code)])
        }
        let snake = sanitized(name)
        switch metricKind {
        case .counter:
            let metric = "raptor_" + snake + (snake.hasSuffix("_total") ? "" : "_total")
            return Family(name: metric, help: "The engine's \(name) counter", kind: .counter, labels: [])
        case .gauge:
            return Family(name: "raptor_" + snake, help: "The engine's \(name) gauge", kind: .gauge, labels: [])
        }
    }

    /// `responses_2xx` is ("responses", "2xx").
    private static func statusClass(_ name: String) -> (String, String)? {
        let bytes = Array(name.utf8)
        guard bytes.count > 4 else { return nil }
        let tail = bytes.suffix(4)
        guard tail.first == UInt8(ascii: "_"),
            (UInt8(ascii: "1")...UInt8(ascii: "5")).contains(tail[tail.startIndex + 1]),
            tail.suffix(2).elementsEqual("xx".utf8)
        else { return nil }
        return (String(decoding: bytes.dropLast(4), as: UTF8.self), String(decoding: tail.dropFirst(), as: UTF8.self))
    }

    /// Anything outside `[a-z0-9_]` becomes `_` (the C names are snake_case already).
    private static func sanitized(_ name: String) -> String {
        String(
            decoding: name.utf8.map { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    ? byte : UInt8(ascii: "_")
            }, as: UTF8.self)
    }
}
