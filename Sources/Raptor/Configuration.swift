import Logging

/// Everything a server can be told. The command line maps onto it one to one (flag
/// `--max-body-size` is `maxBodySize`, and so on); defaults follow Puma, Raptor and
/// Hyperion where they agree, and are documented on each property.
public struct Configuration: Sendable, Equatable {
    /// Where to listen: `tcp://HOST:PORT` (IPv6 as `tcp://[::1]:PORT`), `ssl://HOST:PORT`
    /// (HTTPS; certificates from `tlsCertificates`, or in the URL as
    /// `?cert=PATH&key=PATH`) or `unix:///path`. Default `tcp://0.0.0.0:9292`.
    public var binds: [String] = ["tcp://0.0.0.0:9292"]
    /// listen(2) backlog. Default 1024.
    public var backlog: Int = 1024
    /// How forked workers share a TCP address: `.reuseport` (default) binds one
    /// SO_REUSEPORT socket per worker slot, so the kernel spreads connections evenly and a
    /// replaced worker's queue survives; `.shared` hands one socket to every worker. Unix
    /// sockets are always shared.
    public var listener: ListenerMode = .reuseport
    /// The load balancers (addresses or blocks: `10.0.0.0/8`, `192.0.2.7`,
    /// `2001:db8::/32`) whose PROXY protocol headers (binds with `?proxy_protocol=`) and
    /// forwarded fields are believed; a Unix socket peer is always trusted. Default: none.
    public var trustedProxies: [String] = []
    /// Which field a trusted proxy puts the client's address in: `.xForwardedFor`
    /// (default), `.forwarded` (RFC 7239), or `.none` (only PROXY headers count). The
    /// other field is the client's own and ignored.
    public var forwardedHeader: ForwardedHeader = .xForwardedFor
    /// Worker processes forked by a master that supervises them; 0 serves in this one
    /// process (no master, no fork). Default: the CPUs available to the process (affinity
    /// and cgroup CPU quota respected).
    public var workers: Int = ProcessorCount.available
    /// App threads per worker; 0 runs the handler on the event loop thread (fastest for
    /// handlers that never block). Default 5.
    public var threads: Int = 5
    /// Past this many requests waiting for an app thread (with an async handler: for a
    /// `maxInflight` slot), new ones get a prebuilt 503 with
    /// `Retry-After: 1` and the connection closes. nil (default): never shed.
    public var maxPending: Int? = nil
    /// With an async handler (`Responder.async`): requests a worker runs at once. At the
    /// limit the worker stops accepting (other workers take the new connections); requests
    /// on open connections wait for a slot, and past `maxPending` waiting they get 503.
    /// Default 1024: a request awaiting a backend costs about its connection's 8 KiB read
    /// buffer and a Task (under 10 MiB per worker at the limit), so the limit is there to
    /// stop a worker taking more than it can start, not to ration waits; 256 connections
    /// each awaiting a slow backend fit in one worker with room to spare.
    public var maxInflight: Int = 1024

    /// Largest request body accepted (decoded); bigger gets 413. Default 16 MiB.
    public var maxBodySize: UInt64 = 16 << 20
    /// Bodies up to this size stay in memory; larger ones are spooled to an unlinked
    /// temporary file. Default 1 MiB.
    public var bodyMemoryLimit: UInt64 = 1 << 20
    /// Largest header section (request line and fields); bigger gets 431. Default 64 KiB.
    public var maxHeaderSize: Int = 64 << 10
    /// Largest request-target; longer gets 414. Default 8 KiB. The request line is part of
    /// the header section, so a smaller `maxHeaderSize` caps it (`effectiveMaxTargetSize`).
    public var maxTargetSize: Int = 8 << 10
    /// Most header fields in one request; more gets 431. Default 100 (the maximum).
    public var maxHeaderCount: Int = 100
    /// Requests served on one connection; the last response says `Connection: close`.
    /// Default 1000.
    public var maxKeepaliveRequests: Int = 1000

    /// From accept to the first byte of a request; then 408 and close. Default 30 s.
    public var firstDataTimeout: Duration = .seconds(30)
    /// Idle time between requests on a keep-alive connection; then it closes. Default 65 s.
    public var keepaliveTimeout: Duration = .seconds(65)
    /// From the first byte of a request to the end of its body: the slowloris guard; then
    /// 408 and close. Default 60 s.
    public var requestTimeout: Duration = .seconds(60)
    /// Longest wait for the next byte of a body; then 408 and close. Default 10 s.
    public var bodyTimeout: Duration = .seconds(10)
    /// Longest wait for a slow client to take more of a response; then it closes.
    /// Default 30 s.
    public var writeTimeout: Duration = .seconds(30)

    /// HTTP/2: ALPN offers h2 before http/1.1 on `ssl://` binds, and a plain connection that
    /// opens with the HTTP/2 preface is served as h2c. Default on.
    public var http2: Bool = true
    /// Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    /// Default 100.
    public var h2MaxConcurrentStreams: Int = 100
    /// Bytes of request body a client may send on one stream before the server's
    /// WINDOW_UPDATE (SETTINGS_INITIAL_WINDOW_SIZE). Default 256 KiB.
    public var h2InitialWindowSize: Int = 256 << 10
    /// Largest frame the client may send (SETTINGS_MAX_FRAME_SIZE), 16 KiB to 16 MiB - 1.
    /// Default 16 KiB.
    public var h2MaxFrameSize: Int = 16 << 10
    /// Bytes of request bodies a client may send on one connection, all streams together,
    /// before the server's WINDOW_UPDATE. Default 1 MiB.
    public var h2ConnectionWindow: Int = 1 << 20
    /// A graceful stop waits this long for requests in flight; then the rest are dropped.
    /// Default 30 s.
    public var shutdownTimeout: Duration = .seconds(30)
    /// During a graceful stop (TERM, and a worker replaced or removed by USR2, HUP or TTOU)
    /// a connection waiting for a request is closed once it has been idle this long, counted
    /// from the stop or its last response: a request already on its way is answered (with
    /// `Connection: close`) rather than lost. At most `shutdownTimeout`; zero closes idle
    /// connections at once. Default 300 ms.
    public var shutdownIdleGrace: Duration = .milliseconds(300)
    /// On INT, TERM or QUIT, how long the cluster goes on serving after it stopped being
    /// ready (`/readyz` answers 503 at once), so a load balancer takes the host out before
    /// any connection is refused; then the graceful stop. A second signal ends it early.
    /// Default 0 (stop at once); a few seconds, more than the balancer's check interval
    /// times its fall count, behind a balancer.
    public var drainDelay: Duration = .zero
    /// A booted worker whose heartbeat (written every second) is older than this is
    /// killed (SIGKILL) and replaced: it is stopped or deadlocked. Default 60 s.
    public var workerTimeout: Duration = .seconds(60)
    /// A worker that has not booted this long after its fork is killed and replaced.
    /// Default 60 s.
    public var workerBootTimeout: Duration = .seconds(60)
    /// A worker whose resident memory (RSS) grows past this is replaced: the new one boots
    /// first, then the old one drains, as in a phased restart. nil (default): never.
    public var workerMaxRSS: UInt64? = nil
    /// A worker that has served this many requests (plus a random 0-10 %, so workers do not
    /// restart together) is replaced like one past `workerMaxRSS`. nil (default): never.
    public var workerMaxRequests: Int? = nil
    /// `.auto` pins each worker, with its app threads, to one CPU of those the process may
    /// use (worker i on the i-th, round robin), as nginx's `worker_cpu_affinity auto`.
    /// Default `.none`: the kernel places them.
    public var cpuAffinity: CPUAffinity = .none
    /// The master's pid is written here, created exclusively; an existing file naming a
    /// live process is an error, a stale one is replaced; removed at exit. Default: none.
    public var pidfile: String? = nil
    /// The master writes every worker's stats here as JSON each second (temporary file
    /// and rename), and removes it at exit; `raptor-ev stats` reads it. Default: none.
    public var statsFile: String? = nil
    /// Where the metrics server listens (`tcp://HOST:PORT` or `unix:///path`): `GET
    /// /metrics` (Prometheus text), `/healthz` and `/readyz`, for the whole cluster. A
    /// listener of its own, so it is never exposed on the public port by accident. nil
    /// (default): none.
    public var metricsBind: String? = nil
    /// When set, `/metrics` answers only requests with `Authorization: Bearer TOKEN`
    /// (compared in constant time); `/healthz` and `/readyz` stay open for balancers.
    /// Default: none.
    public var metricsToken: String? = nil

    /// `text` (for people) or `json` (one object per line); nil picks text on a terminal
    /// and JSON otherwise.
    public var logFormat: LogFormat? = nil
    /// The least severe level logged by the command line's log handler. Default `info`;
    /// `debug` adds, among others, every failed TLS handshake and why.
    public var logLevel: Logger.Level = .info
    /// One line per request, off by default: Common Log Format with the text log format,
    /// JSON with the JSON one.
    public var accessLog: Bool = false

    /// How the static-file server (the raptor-ev binary, or `StaticFiles` in a tool) serves
    /// its directory: `--cache-control`, `--dotfiles`, `--listing`, `--fallback`...
    public var staticFiles = StaticFiles.Options()

    /// Certificates for the `ssl://` binds that name none in their URL: PEM files, the
    /// leaf first and its chain after it, each paired in order with a key file of
    /// `tlsKeys`; or directories of pairs (`NAME.crt` or `NAME.pem` with `NAME.key`, in
    /// name order). The certificate whose names (subjectAltName, wildcards included) match
    /// the server name a client asks for (SNI) answers it; the first one when none does.
    public var tlsCertificates: [String] = []
    /// The unencrypted PEM key files of the `tlsCertificates` files, in the same order.
    public var tlsKeys: [String] = []
    /// The oldest TLS version accepted. Default 1.2 (1.0 and 1.1 are never accepted:
    /// RFC 8996).
    public var tlsMinVersion: TLSVersion = .v1_2
    /// The TLS 1.2 cipher list, OpenSSL syntax. Default: Mozilla's "intermediate" list
    /// (forward-secret AEAD ciphers only), in the server's order of preference.
    public var tlsCiphers: String = TLSDefaults.ciphers
    /// The TLS 1.3 cipher suites, OpenSSL syntax. Default: AES-128-GCM, AES-256-GCM,
    /// ChaCha20-Poly1305.
    public var tlsCipherSuites: String = TLSDefaults.cipherSuites
    /// A PEM file of the CAs client certificates must chain to. Default: none.
    public var tlsClientCA: String? = nil
    /// Whether clients present a certificate: `none`, `optional` (asked for; one that is
    /// sent must verify), `required`. nil (default): `required` with `tlsClientCA`, `none`
    /// without.
    public var tlsVerify: TLSVerify? = nil
    /// How often the session ticket key is replaced; tickets made with the key before stay
    /// valid until the next rotation, so a ticket lives two intervals. Default 12 hours, at
    /// most 84 hours (RFC 8446 caps a ticket's lifetime at 7 days).
    public var tlsTicketRotation: Duration = .seconds(12 * 3600)

    public init() {}

    /// The log formats.
    public enum LogFormat: String, Sendable, CaseIterable {
        case text, json
    }

    /// The field that carries the client's address from a trusted proxy.
    public enum ForwardedHeader: String, Sendable, CaseIterable {
        case xForwardedFor = "x-forwarded-for"
        case forwarded
        case none
    }

    /// Where workers run.
    public enum CPUAffinity: String, Sendable, CaseIterable {
        /// Wherever the kernel places them.
        case none
        /// Worker i and its app threads on the i-th CPU the process may use (round robin).
        case auto
    }

    /// How forked workers share a TCP listening address.
    public enum ListenerMode: String, Sendable, CaseIterable {
        /// One SO_REUSEPORT socket per worker slot: the kernel balances new connections.
        case reuseport
        /// One socket that every worker accepts from.
        case shared
    }

    /// The most workers a master runs at once (`--workers` and TTIN together).
    public static let maximumWorkers = 1024

    /// The target limit in force: `maxTargetSize`, capped by `maxHeaderSize`.
    public var effectiveMaxTargetSize: Int { min(maxTargetSize, maxHeaderSize) }

    /// Raptor's rule: stop accepting while at least max(ceil(threads x 1.2), 8) requests
    /// wait for an app thread, so other workers take the new connections.
    public var acceptPauseBacklog: Int {
        max(Int((Double(threads) * 1.2).rounded(.up)), 8)
    }

    /// Checks every value; the error names the flag and says what is wrong.
    public func validate() throws {
        func fail(_ option: String, _ message: String) throws -> Never {
            throw RaptorError.invalidConfiguration(option: option, message: message)
        }
        if binds.isEmpty { try fail("--bind", "at least one address is needed") }
        for bind in binds {
            do { _ = try BindAddress(parsing: bind) } catch let error as RaptorError {
                if case .invalidConfiguration(_, let message) = error { try fail("--bind", message) }
                throw error
            }
        }
        if backlog < 1 { try fail("--backlog", "must be at least 1") }
        let trusted = try TrustedProxies(trustedProxies)
        for bind in binds where trusted.isEmpty && !bind.hasPrefix("unix://") {
            if (try BindOptions(parsing: bind)).proxyProtocol != nil {
                try fail("--bind", "'\(bind)': proxy_protocol needs --trusted-proxies (the load balancers' addresses)")
            }
        }
        if threads < 0 || threads > 1024 { try fail("--threads", "must be between 0 and 1024") }
        if workers < 0 || workers > Self.maximumWorkers {
            try fail("--workers", "must be between 0 (one process, no master) and \(Self.maximumWorkers)")
        }
        if let maxPending, maxPending < 1 { try fail("--max-pending", "must be at least 1") }
        if maxInflight < 1 || maxInflight > 1 << 20 { try fail("--max-inflight", "must be between 1 and 1048576") }
        if maxBodySize < 1 { try fail("--max-body-size", "must be at least 1 byte") }
        if bodyMemoryLimit < 1 { try fail("--body-memory-limit", "must be at least 1 byte") }
        if maxHeaderSize < 1024 || maxHeaderSize > 1 << 30 {
            try fail("--max-header-size", "must be between 1KiB and 1GiB")
        }
        if maxTargetSize < 16 || maxTargetSize > 1 << 30 {
            try fail("--max-target-size", "must be between 16 bytes and 1GiB")
        }
        if maxHeaderCount < 1 || maxHeaderCount > 100 {
            try fail("--max-header-count", "must be between 1 and 100")
        }
        if maxKeepaliveRequests < 1 { try fail("--max-keepalive-requests", "must be at least 1") }
        if h2MaxConcurrentStreams < 1 || h2MaxConcurrentStreams > 1 << 20 {
            try fail("--h2-max-concurrent-streams", "must be between 1 and 1048576")
        }
        let largestWindow = Int(Int32.max)
        if h2InitialWindowSize < 1024 || h2InitialWindowSize > largestWindow {
            try fail("--h2-initial-window-size", "must be between 1KiB and 2GiB - 1 byte")
        }
        if h2MaxFrameSize < 16 << 10 || h2MaxFrameSize > (16 << 20) - 1 {
            try fail("--h2-max-frame-size", "must be between 16KiB and 16MiB - 1 byte")
        }
        if h2ConnectionWindow < 65535 || h2ConnectionWindow > largestWindow {
            try fail("--h2-connection-window", "must be between 65535 bytes and 2GiB - 1 byte")
        }
        let timeouts: [(String, Duration)] = [
            ("--first-data-timeout", firstDataTimeout), ("--keepalive-timeout", keepaliveTimeout),
            ("--request-timeout", requestTimeout), ("--body-timeout", bodyTimeout),
            ("--write-timeout", writeTimeout), ("--shutdown-timeout", shutdownTimeout),
            ("--worker-timeout", workerTimeout), ("--worker-boot-timeout", workerBootTimeout),
        ]
        for (option, value) in timeouts where value <= .zero {
            try fail(option, "must be longer than zero")
        }
        if shutdownIdleGrace < .zero { try fail("--shutdown-idle-grace", "must not be negative") }
        let needsMaster = "needs a master process (--workers 1 or more); --single and --workers 0 have none"
        if drainDelay < .zero { try fail("--drain-delay", "must not be negative") }
        if drainDelay > .zero && workers == 0 { try fail("--drain-delay", needsMaster) }
        if let workerMaxRSS {
            if workerMaxRSS < 1 << 20 { try fail("--worker-max-rss", "must be at least 1MiB") }
            if workers == 0 { try fail("--worker-max-rss", needsMaster) }
        }
        if let workerMaxRequests {
            if workerMaxRequests < 1 { try fail("--worker-max-requests", "must be at least 1") }
            if workers == 0 { try fail("--worker-max-requests", needsMaster) }
        }
        if cpuAffinity != .none && workers == 0 { try fail("--cpu-affinity", needsMaster) }
        if let metricsBind {
            do { _ = try BindAddress(parsing: metricsBind) } catch let error as RaptorError {
                if case .invalidConfiguration(_, let message) = error { try fail("--metrics-bind", message) }
                throw error
            }
            if workers == 0 { try fail("--metrics-bind", needsMaster) }
            if metricsBind.contains("?") { try fail("--metrics-bind", "'\(metricsBind)': takes no options") }
        }
        if let metricsToken {
            if metricsBind == nil { try fail("--metrics-token", "needs --metrics-bind") }
            if !BearerToken.isValid(metricsToken) {
                try fail(
                    "--metrics-token",
                    "must be 1 to \(BearerToken.maximumLength) characters of A-Z a-z 0-9 - . _ ~ + / (then = only)")
            }
        }
        if let pidfile, pidfile.isEmpty { try fail("--pidfile", "the path is empty") }
        if let statsFile, statsFile.isEmpty { try fail("--stats-file", "the path is empty") }
        try staticFiles.validate()
        try validateTLS()
    }
}

extension Duration {
    /// Seconds as a Double, for the C engine's timers.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
