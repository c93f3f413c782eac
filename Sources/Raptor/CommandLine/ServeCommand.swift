import ArgumentParser
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// `raptor-ev serve`: every flag is one `Configuration` property, in the same order, with
/// the same default (taken from `Configuration()`, so the two cannot drift apart).
///
/// Numeric options parse `.unconditional`ly: the next word is the value even when it
/// starts with `-`, so `--threads -1` reaches validation and reads "--threads: must be
/// between 0 and 1024" rather than ArgumentParser's "Missing value for '--threads <n>'".
struct ServeCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "serve",
            abstract: "Serve HTTP/1.1 (the default command).",
            discussion: ServeHelp.discussion)
    }

    private static let defaults = Configuration()

    @Argument(
        help: ArgumentHelp(
            "Directory of static files to serve, when the program has no handler of its own"
                + " (the raptor-ev binary). (default: ./public if it exists, else the current"
                + " directory)",
            valueName: "dir"))
    var directory: String?

    @Option(
        name: [.customShort("b"), .customLong("bind")],
        help: ArgumentHelp(
            "Address to listen on: tcp://HOST:PORT, tcp://[IPV6]:PORT, ssl://HOST:PORT (HTTPS) or"
                + " unix:///PATH. Repeat to listen on several.",
            valueName: "url"))
    var binds: [String] = ServeCommand.defaults.binds

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "listen(2) backlog: connections the kernel queues before they are accepted.",
            valueName: "n"))
    var backlog: Int = ServeCommand.defaults.backlog

    @Option(
        help: ArgumentHelp(
            "How workers share a TCP address: reuseport (one SO_REUSEPORT socket per worker, the"
                + " kernel balances) or shared (one socket for all). Unix sockets are always shared.",
            valueName: "mode"))
    var listener: Configuration.ListenerMode = ServeCommand.defaults.listener

    @Option(
        help: ArgumentHelp(
            "Load balancers whose PROXY headers (binds with ?proxy_protocol=) and forwarded fields"
                + " are believed: addresses or CIDR blocks, comma-separated or repeated. (default:"
                + " none)",
            valueName: "cidr,..."))
    var trustedProxies: [String] = []

    @Option(
        help: ArgumentHelp(
            "The field a trusted proxy puts the client's address in (the rightmost untrusted hop"
                + " is the client): x-forwarded-for, forwarded (RFC 7239) or none.",
            valueName: "field"))
    var forwardedHeader: Configuration.ForwardedHeader = ServeCommand.defaults.forwardedHeader

    @Option(
        name: [.customShort("w"), .customLong("workers")], parsing: .unconditional,
        help: ArgumentHelp(
            "Worker processes, forked and supervised by a master; 0 serves in one process (as"
                + " --single). (default: the number of CPUs available to the process)",
            valueName: "n"))
    var workers: Int = ServeCommand.defaults.workers

    @Flag(help: ArgumentHelp("One process, no master and no fork: the same as --workers 0."))
    var single: Bool = false

    @Flag(
        help: ArgumentHelp(
            "Check the flags and the set-up (the directory to serve, the handler) without"
                + " binding or serving; print one line and exit 0, or the error and 64 or 1. A hot"
                + " restart (HUP) runs the new build this way first and refuses a build that fails."))
    var checkConfig: Bool = false

    @Option(
        name: [.customShort("t"), .customLong("threads")], parsing: .unconditional,
        help: ArgumentHelp(
            "App threads per worker; 0 runs the handler on the event loop thread (fastest for"
                + " handlers that never block). (default: \(ServeCommand.defaults.threads); 0 for the"
                + " static files of <dir>)",
            valueName: "n"))
    var threads: Int?

    // No default value: ArgumentParser wants an optional option to default to nil, which is
    // Configuration's default too (a test checks that they stay equal).
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Requests waiting for an app thread (with an async handler: for a --max-inflight"
                + " slot) past which new ones get 503 with Retry-After: 1 and the connection"
                + " closes. (default: none, never shed)",
            valueName: "n"))
    var maxPending: Int?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "With an async handler: requests a worker runs at once; at the limit it stops"
                + " accepting and further requests wait (past --max-pending, 503).",
            valueName: "n"))
    var maxInflight: Int = ServeCommand.defaults.maxInflight

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Largest request body accepted (decoded); a bigger one gets 413."
                + " (default: \(ByteSize(bytes: ServeCommand.defaults.maxBodySize)))",
            valueName: "size"),
        transform: ByteSize.init(parsing:))
    var maxBodySize = ByteSize(bytes: ServeCommand.defaults.maxBodySize)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Request bodies up to this size stay in memory; larger ones are spooled to an"
                + " unlinked temporary file."
                + " (default: \(ByteSize(bytes: ServeCommand.defaults.bodyMemoryLimit)))",
            valueName: "size"),
        transform: ByteSize.init(parsing:))
    var bodyMemoryLimit = ByteSize(bytes: ServeCommand.defaults.bodyMemoryLimit)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Largest request head (request line and header fields), 1KiB to 1GiB; bigger gets"
                + " 431."
                + " (default: \(ByteSize(bytes: UInt64(ServeCommand.defaults.maxHeaderSize))))",
            valueName: "size"),
        transform: ByteSize.init(parsing:))
    var maxHeaderSize = ByteSize(bytes: UInt64(ServeCommand.defaults.maxHeaderSize))

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Longest request-target (at most --max-header-size); longer gets 414."
                + " (default: \(ByteSize(bytes: UInt64(ServeCommand.defaults.maxTargetSize))))",
            valueName: "size"),
        transform: ByteSize.init(parsing:))
    var maxTargetSize = ByteSize(bytes: UInt64(ServeCommand.defaults.maxTargetSize))

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Most header fields in one request, 1 to 100; more gets 431.", valueName: "n"))
    var maxHeaderCount: Int = ServeCommand.defaults.maxHeaderCount

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Requests served on one connection; the last response says Connection: close.",
            valueName: "n"))
    var maxKeepaliveRequests: Int = ServeCommand.defaults.maxKeepaliveRequests

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "From accept to the first byte of a request; then 408 and close."
                + " (default: \(DurationArgument(ServeCommand.defaults.firstDataTimeout)))",
            valueName: "duration"),
        transform: DurationArgument.init(parsing:))
    var firstDataTimeout = DurationArgument(ServeCommand.defaults.firstDataTimeout)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Idle time between requests on a keep-alive connection; then it closes."
                + " (default: \(DurationArgument(ServeCommand.defaults.keepaliveTimeout)))",
            valueName: "duration"),
        transform: DurationArgument.init(parsing:))
    var keepaliveTimeout = DurationArgument(ServeCommand.defaults.keepaliveTimeout)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "From the first byte of a request to the end of its body (the slowloris guard);"
                + " then 408 and close."
                + " (default: \(DurationArgument(ServeCommand.defaults.requestTimeout)))",
            valueName: "duration"),
        transform: DurationArgument.init(parsing:))
    var requestTimeout = DurationArgument(ServeCommand.defaults.requestTimeout)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Longest wait for the next byte of a request body; then 408 and close."
                + " (default: \(DurationArgument(ServeCommand.defaults.bodyTimeout)))",
            valueName: "duration"),
        transform: DurationArgument.init(parsing:))
    var bodyTimeout = DurationArgument(ServeCommand.defaults.bodyTimeout)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Longest wait for a slow client to take more of a response; then it closes."
                + " (default: \(DurationArgument(ServeCommand.defaults.writeTimeout)))",
            valueName: "duration"),
        transform: DurationArgument.init(parsing:))
    var writeTimeout = DurationArgument(ServeCommand.defaults.writeTimeout)

    @Option(
        help: ArgumentHelp(
            "HTTP/2: on ssl:// binds ALPN offers h2 before http/1.1; on plain binds a connection"
                + " that opens with the HTTP/2 preface is h2c (prior knowledge; Upgrade: h2c is not"
                + " offered).",
            valueName: "on|off"))
    var http2: OnOff = ServeCommand.defaults.http2 ? .on : .off

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "HTTP/2 streams open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS).",
            valueName: "n"))
    var h2MaxConcurrentStreams: Int = ServeCommand.defaults.h2MaxConcurrentStreams

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "HTTP/2 request body bytes a client may send on one stream before the server's"
                + " WINDOW_UPDATE (SETTINGS_INITIAL_WINDOW_SIZE)."
                + " (default: \(ByteSize(bytes: UInt64(ServeCommand.defaults.h2InitialWindowSize))))",
            valueName: "size"),
        transform: ByteSize.init(parsing:))
    var h2InitialWindowSize = ByteSize(bytes: UInt64(ServeCommand.defaults.h2InitialWindowSize))

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Largest HTTP/2 frame a client may send (SETTINGS_MAX_FRAME_SIZE), 16KiB to 16MiB - 1."
                + " (default: \(ByteSize(bytes: UInt64(ServeCommand.defaults.h2MaxFrameSize))))",
            valueName: "size"),
        transform: ByteSize.init(parsing:))
    var h2MaxFrameSize = ByteSize(bytes: UInt64(ServeCommand.defaults.h2MaxFrameSize))

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "HTTP/2 request body bytes a client may send on one connection, all streams together,"
                + " before the server's WINDOW_UPDATE."
                + " (default: \(ByteSize(bytes: UInt64(ServeCommand.defaults.h2ConnectionWindow))))",
            valueName: "size"),
        transform: ByteSize.init(parsing:))
    var h2ConnectionWindow = ByteSize(bytes: UInt64(ServeCommand.defaults.h2ConnectionWindow))

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "How long a graceful stop waits for requests in flight; then the rest are dropped."
                + " (default: \(DurationArgument(ServeCommand.defaults.shutdownTimeout)))",
            valueName: "duration"),
        transform: DurationArgument.init(parsing:))
    var shutdownTimeout = DurationArgument(ServeCommand.defaults.shutdownTimeout)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "During a graceful stop, a connection idle this long (since the stop or its last"
                + " response) is closed; a request arriving before is answered with Connection:"
                + " close. At most --shutdown-timeout; 0 closes idle connections at once."
                + " (default: \(DurationArgument(ServeCommand.defaults.shutdownIdleGrace)))",
            valueName: "duration"),
        transform: DurationArgument.init(parsing:))
    var shutdownIdleGrace = DurationArgument(ServeCommand.defaults.shutdownIdleGrace)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "On INT or TERM, keep serving this long after /readyz turned 503, so a load balancer"
                + " takes the host out before connections are refused; then stop gracefully."
                + " (default: \(DurationArgument(ServeCommand.defaults.drainDelay)))",
            valueName: "duration"),
        transform: DurationArgument.init(parsing:))
    var drainDelay = DurationArgument(ServeCommand.defaults.drainDelay)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "A worker whose heartbeat (every second) is older than this is killed and replaced."
                + " (default: \(DurationArgument(ServeCommand.defaults.workerTimeout)))",
            valueName: "duration"),
        transform: DurationArgument.init(parsing:))
    var workerTimeout = DurationArgument(ServeCommand.defaults.workerTimeout)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "A worker not booted this long after its fork is killed and replaced."
                + " (default: \(DurationArgument(ServeCommand.defaults.workerBootTimeout)))",
            valueName: "duration"),
        transform: DurationArgument.init(parsing:))
    var workerBootTimeout = DurationArgument(ServeCommand.defaults.workerBootTimeout)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Replace a worker whose resident memory grows past this (the new one boots first)."
                + " (default: none)",
            valueName: "size"),
        transform: ByteSize.init(parsing:))
    var workerMaxRSS: ByteSize?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Replace a worker after this many requests, plus a random 0-10% so workers do not"
                + " restart together. (default: none)",
            valueName: "n"))
    var workerMaxRequests: Int?

    @Option(
        help: ArgumentHelp(
            "none, or auto: each worker and its app threads on one CPU (round robin over the"
                + " CPUs the process may use).",
            valueName: "mode"))
    var cpuAffinity: Configuration.CPUAffinity = ServeCommand.defaults.cpuAffinity

    @Option(
        help: ArgumentHelp(
            "Write the master's pid here (created exclusively: a file naming a running process is an"
                + " error, a stale one is replaced); removed at exit. (default: none)",
            valueName: "path"))
    var pidfile: String?

    @Option(
        help: ArgumentHelp(
            "Write every worker's stats here as JSON each second (read by `stats`); removed at exit."
                + " (default: none)",
            valueName: "path"))
    var statsFile: String?

    @Option(
        help: ArgumentHelp(
            "Serve GET /metrics (Prometheus), /healthz and /readyz for the whole cluster on this"
                + " address, its own listener: tcp://HOST:PORT or unix:///PATH. (default: none)",
            valueName: "url"))
    var metricsBind: String?

    @Option(
        help: ArgumentHelp(
            "Require Authorization: Bearer TOKEN for /metrics (/healthz and /readyz stay open)."
                + " Visible in ps: prefer a unix:// metrics bind or a private address. (default: none)",
            valueName: "token"))
    var metricsToken: String?

    // nil, as in Configuration: the format is chosen when the server starts, from whether
    // standard error is a terminal.
    @Option(
        help: ArgumentHelp(
            "Log format on standard error: text (for people) or json (one object per line)."
                + " (default: text on a terminal, json otherwise)",
            valueName: "format"))
    var logFormat: Configuration.LogFormat?

    @Option(
        help: ArgumentHelp(
            "Least severe log level written (debug adds every failed TLS handshake and why).",
            valueName: "level"))
    var logLevel: Logger.Level = ServeCommand.defaults.logLevel

    @Flag(
        help: ArgumentHelp(
            "Write one line per request to standard output: Common Log Format with the text log"
                + " format, JSON with the json one. (default: off)"))
    var accessLog: Bool = ServeCommand.defaults.accessLog

    // Static files (the raptor-ev binary): StaticFiles.Options, flag for property.
    private static let fileDefaults = StaticFiles.Options()

    @Option(
        help: ArgumentHelp(
            "Cache-Control of every file response (200, 206, 304), as in 'public, max-age=3600'."
                + " (default: none)",
            valueName: "value"))
    var cacheControl: String?

    @Flag(
        help: ArgumentHelp(
            "Files whose name has a hex hash segment (app.3f9a1c.js) get Cache-Control:"
                + " \(StaticFiles.Options.immutableCacheControl). (default: off)"))
    var cacheFingerprinted: Bool = ServeCommand.fileDefaults.cacheFingerprinted

    @Option(
        name: .customLong("mime-type"),
        help: ArgumentHelp(
            "Media type of files with this extension, over the built-in table; repeatable, as in"
                + " --mime-type webp=image/webp.",
            valueName: "ext=type"),
        transform: MediaTypeArgument.init(parsing:))
    var mimeTypes: [MediaTypeArgument] = []

    @Option(
        help: ArgumentHelp(
            "Names starting with '.': deny (404, except /.well-known/) or allow (served).",
            valueName: "policy"))
    var dotfiles: StaticFiles.DotfilePolicy = ServeCommand.fileDefaults.dotfiles

    @Flag(
        help: ArgumentHelp(
            "An HTML listing for a directory without index.html. (default: off, 404)"))
    var listing: Bool = ServeCommand.fileDefaults.listing

    @Option(
        help: ArgumentHelp(
            "Serve this file (relative to the directory) with 200 for a GET of a path that matches"
                + " nothing and has no extension: the fallback of a single-page application."
                + " (default: none, 404)",
            valueName: "file"))
    var fallback: String?

    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Serve x.br, x.zst or x.gz for x when the client accepts that coding and the sibling"
                + " is not older than x."))
    var precompressed: Bool = ServeCommand.fileDefaults.precompressed

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Files each worker keeps open (in memory when small) and revalidates every second;"
                + " 0 opens every file per request.",
            valueName: "n"))
    var fileCache: Int = ServeCommand.fileDefaults.fileCache

    @Option(
        name: .customLong("tls-cert"),
        help: ArgumentHelp(
            "Certificate for ssl:// addresses: a PEM file (leaf first, then its chain) paired in order with"
                + " a --tls-key, or a directory of NAME.crt (or NAME.pem) and NAME.key pairs. Repeat for"
                + " several: SNI picks the one whose names match, else the first.",
            valueName: "path"))
    var tlsCertificates: [String] = ServeCommand.defaults.tlsCertificates

    @Option(
        name: .customLong("tls-key"),
        help: ArgumentHelp("The unencrypted PEM key of a --tls-cert file, in the same order.", valueName: "path"))
    var tlsKeys: [String] = ServeCommand.defaults.tlsKeys

    @Option(
        name: .customLong("tls-min-version"),
        help: ArgumentHelp("The oldest TLS version accepted.", valueName: "version"))
    var tlsMinVersion: TLSVersion = ServeCommand.defaults.tlsMinVersion

    @Option(
        name: .customLong("tls-ciphers"),
        help: ArgumentHelp(
            "TLS 1.2 cipher list (OpenSSL syntax), in the server's order of preference."
                + " (default: Mozilla's intermediate list)",
            valueName: "list"))
    // Optional only so that ArgumentParser does not print the long default list itself.
    var tlsCiphers: String?

    @Option(
        name: .customLong("tls-ciphersuites"),
        help: ArgumentHelp(
            "TLS 1.3 cipher suites (OpenSSL syntax)."
                + " (default: \(ServeCommand.defaults.tlsCipherSuites.split(separator: ":").joined(separator: ", ")))",
            valueName: "list"))
    var tlsCipherSuites: String?

    @Option(
        name: .customLong("tls-client-ca"),
        help: ArgumentHelp(
            "PEM file of the CAs that client certificates must chain to; clients then need one"
                + " (see --tls-verify). (default: none)",
            valueName: "path"))
    var tlsClientCA: String?

    @Option(
        name: .customLong("tls-verify"),
        help: ArgumentHelp(
            "Client certificates: none, optional (asked for; one that is sent must verify) or required"
                + " (the default with --tls-client-ca; none without).",
            valueName: "mode"))
    var tlsVerify: TLSVerify?

    @Option(
        name: .customLong("tls-ticket-rotation"), parsing: .unconditional,
        help: ArgumentHelp(
            "How often the session ticket key shared by the workers is replaced; tickets of the"
                + " previous key stay valid until the next rotation."
                + " (default: \(Int(ServeCommand.defaults.tlsTicketRotation.seconds) / 3600)h)",
            valueName: "duration"),
        transform: DurationArgument.init(parsing:))
    var tlsTicketRotation = DurationArgument(ServeCommand.defaults.tlsTicketRotation)

    /// The configuration the flags describe, not yet validated.
    var serverConfiguration: Configuration {
        var configuration = Configuration()
        configuration.binds = binds
        configuration.backlog = backlog
        configuration.listener = listener
        configuration.trustedProxies = trustedProxies.flatMap { $0.split(separator: ",").map(String.init) }
        configuration.forwardedHeader = forwardedHeader
        configuration.workers = single ? 0 : workers
        configuration.threads = threads ?? Self.defaults.threads
        configuration.maxPending = maxPending
        configuration.maxInflight = maxInflight
        configuration.maxBodySize = maxBodySize.bytes
        configuration.bodyMemoryLimit = bodyMemoryLimit.bytes
        // ByteSize stops at Int64.max, so these conversions cannot trap.
        configuration.maxHeaderSize = Int(maxHeaderSize.bytes)
        configuration.maxTargetSize = Int(maxTargetSize.bytes)
        configuration.maxHeaderCount = maxHeaderCount
        configuration.maxKeepaliveRequests = maxKeepaliveRequests
        configuration.firstDataTimeout = firstDataTimeout.duration
        configuration.keepaliveTimeout = keepaliveTimeout.duration
        configuration.requestTimeout = requestTimeout.duration
        configuration.bodyTimeout = bodyTimeout.duration
        configuration.writeTimeout = writeTimeout.duration
        configuration.http2 = http2 == .on
        configuration.h2MaxConcurrentStreams = h2MaxConcurrentStreams
        // ByteSize stops at Int64.max: no trap; validation bounds them.
        configuration.h2InitialWindowSize = Int(h2InitialWindowSize.bytes)
        configuration.h2MaxFrameSize = Int(h2MaxFrameSize.bytes)
        configuration.h2ConnectionWindow = Int(h2ConnectionWindow.bytes)
        configuration.shutdownTimeout = shutdownTimeout.duration
        configuration.shutdownIdleGrace = shutdownIdleGrace.duration
        configuration.drainDelay = drainDelay.duration
        configuration.workerTimeout = workerTimeout.duration
        configuration.workerBootTimeout = workerBootTimeout.duration
        configuration.workerMaxRSS = workerMaxRSS?.bytes
        configuration.workerMaxRequests = workerMaxRequests
        configuration.cpuAffinity = cpuAffinity
        configuration.pidfile = pidfile
        configuration.statsFile = statsFile
        configuration.metricsBind = metricsBind
        configuration.metricsToken = metricsToken
        configuration.logFormat = logFormat
        configuration.logLevel = logLevel
        configuration.accessLog = accessLog
        configuration.staticFiles.cacheControl = cacheControl
        configuration.staticFiles.cacheFingerprinted = cacheFingerprinted
        for argument in mimeTypes { configuration.staticFiles.mimeTypes[argument.fileExtension] = argument.type }
        configuration.staticFiles.dotfiles = dotfiles
        configuration.staticFiles.listing = listing
        configuration.staticFiles.fallback = fallback
        configuration.staticFiles.precompressed = precompressed
        configuration.staticFiles.fileCache = fileCache

        configuration.tlsCertificates = tlsCertificates
        configuration.tlsKeys = tlsKeys
        configuration.tlsMinVersion = tlsMinVersion
        configuration.tlsCiphers = tlsCiphers ?? Self.defaults.tlsCiphers
        configuration.tlsCipherSuites = tlsCipherSuites ?? Self.defaults.tlsCipherSuites
        configuration.tlsClientCA = tlsClientCA
        configuration.tlsVerify = tlsVerify
        configuration.tlsTicketRotation = tlsTicketRotation.duration
        return configuration
    }

    /// What to serve: the program's own application, or static files from the directory.
    func resolveApplication(program: ApplicationSource?, options: StaticFiles.Options = StaticFiles.Options())
        throws -> ApplicationSource
    {
        if let program {
            // Silently ignoring the directory would leave the user wondering why their files
            // are not served.
            if let directory {
                throw RaptorError.invalidConfiguration(
                    option: "DIR",
                    message: "'\(directory)': this program serves its own handler; a directory"
                        + " applies only to the static-file server")
            }
            return program
        }
        let files = try StaticFiles(root: directory ?? Self.defaultStaticRoot(), options: options)
        return .handler { request in files.respond(to: request) }
    }

    /// `./public` when it is a directory (the convention of Rack and many static sites),
    /// else the current directory.
    static func defaultStaticRoot(in base: String = ".") -> String {
        let candidate = base + "/public"
        var info = stat()
        if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { return candidate }
        return base
    }

    /// App threads when `--threads` is not given: the static file server runs on the event
    /// loop, as nginx's and h2o's do. A file from the page cache or the open-file cache never
    /// makes it wait, and a hand-off to an app thread and back costs more than serving the
    /// file (a new connection per request cost about 1.5x the CPU in pool mode). A disk that
    /// can block (a network file system, a cold cache) is what `--threads N` is for.
    var effectiveThreads: Int {
        threads ?? (CommandLineContext.application == nil ? 0 : Self.defaults.threads)
    }

    mutating func run() throws {
        // Every check that can fail happens before anything binds.
        var configuration = serverConfiguration
        configuration.threads = effectiveThreads
        try configuration.validate()

        // The one bootstrap of the process: the library only logs through swift-log's API
        // and leaves the choice of handler to the program, here the command line. It comes
        // before any Logger is made, since a Logger keeps the handler it was made with.
        let format = configuration.effectiveLogFormat
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in RaptorLogHandler(label: label, format: format, logLevel: level) }

        let application = try resolveApplication(
            program: CommandLineContext.application, options: configuration.staticFiles)
        if checkConfig {
            LineWriter.write("configuration ok", to: LineWriter.standardOutput)
            return
        }

        let server = Server(
            configuration: configuration, hooks: CommandLineContext.hooks,
            logger: Logger(label: "raptor"), application: application)
        try server.run()
    }
}
