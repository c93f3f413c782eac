/// Everything a server can be told. The command line maps onto it one to one (flag
/// `--max-body-size` is `maxBodySize`, and so on); defaults follow Puma, Raptor and
/// Hyperion where they agree, and are documented on each property.
public struct Configuration: Sendable, Equatable {
    /// Where to listen: `tcp://HOST:PORT` (IPv6 as `tcp://[::1]:PORT`) or
    /// `unix:///path`. Default `tcp://0.0.0.0:9292`.
    public var binds: [String] = ["tcp://0.0.0.0:9292"]
    /// listen(2) backlog. Default 1024.
    public var backlog: Int = 1024
    /// App threads per worker; 0 runs the handler on the event loop thread (fastest for
    /// handlers that never block). Default 5.
    public var threads: Int = 5
    /// Past this many requests waiting for an app thread, new ones get a prebuilt 503 with
    /// `Retry-After: 1` and the connection closes. nil (default): never shed.
    public var maxPending: Int? = nil

    /// Largest request body accepted (decoded); bigger gets 413. Default 16 MiB.
    public var maxBodySize: UInt64 = 16 << 20
    /// Bodies up to this size stay in memory; larger ones are spooled to an unlinked
    /// temporary file. Default 1 MiB.
    public var bodyMemoryLimit: UInt64 = 1 << 20
    /// Largest header section (request line and fields); bigger gets 431. Default 64 KiB.
    public var maxHeaderSize: Int = 64 << 10
    /// Largest request-target; longer gets 414. Default 8 KiB.
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
    /// A graceful stop waits this long for requests in flight; then the rest are dropped.
    /// Default 30 s.
    public var shutdownTimeout: Duration = .seconds(30)

    /// `text` (for people) or `json` (one object per line); nil picks text on a terminal
    /// and JSON otherwise.
    public var logFormat: LogFormat? = nil
    /// One line per request, off by default: Common Log Format with the text log format,
    /// JSON with the JSON one.
    public var accessLog: Bool = false

    public init() {}

    /// The log formats.
    public enum LogFormat: String, Sendable, CaseIterable {
        case text, json
    }

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
        if threads < 0 || threads > 1024 { try fail("--threads", "must be between 0 and 1024") }
        if let maxPending, maxPending < 1 { try fail("--max-pending", "must be at least 1") }
        if maxBodySize < 1 { try fail("--max-body-size", "must be at least 1 byte") }
        if bodyMemoryLimit < 1 { try fail("--body-memory-limit", "must be at least 1 byte") }
        if maxHeaderSize < 1024 || maxHeaderSize > 1 << 30 {
            try fail("--max-header-size", "must be between 1KiB and 1GiB")
        }
        if maxTargetSize < 16 || maxTargetSize > maxHeaderSize {
            try fail("--max-target-size", "must be between 16 bytes and --max-header-size")
        }
        if maxHeaderCount < 1 || maxHeaderCount > 100 {
            try fail("--max-header-count", "must be between 1 and 100")
        }
        if maxKeepaliveRequests < 1 { try fail("--max-keepalive-requests", "must be at least 1") }
        let timeouts: [(String, Duration)] = [
            ("--first-data-timeout", firstDataTimeout), ("--keepalive-timeout", keepaliveTimeout),
            ("--request-timeout", requestTimeout), ("--body-timeout", bodyTimeout),
            ("--write-timeout", writeTimeout), ("--shutdown-timeout", shutdownTimeout),
        ]
        for (option, value) in timeouts where value <= .zero {
            try fail(option, "must be longer than zero")
        }
    }
}

extension Duration {
    /// Seconds as a Double, for the C engine's timers.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
