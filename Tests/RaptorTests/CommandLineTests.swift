import ArgumentParser
import XCTest

@testable import Raptor

final class CommandLineTests: XCTestCase {
    // MARK: Sizes

    func testByteSizeAcceptsCountsAndEveryUnitCaseInsensitively() throws {
        let cases: [(String, UInt64)] = [
            ("0", 0), ("1048576", 1_048_576), ("512b", 512), ("512B", 512),
            ("1k", 1024), ("1K", 1024), ("1KiB", 1024), ("1kib", 1024), ("1KB", 1024),
            ("1kb", 1024),
            ("1m", 1 << 20), ("1MiB", 1 << 20), ("1MB", 1 << 20), ("16m", 16 << 20),
            ("1g", 1 << 30), ("1GiB", 1 << 30), ("1GB", 1 << 30), ("2t", 2 << 40),
            ("1TiB", 1 << 40),
            ("1.5m", 1_572_864), ("0.5k", 512), ("1.0001k", 1024),
        ]
        for (text, bytes) in cases {
            XCTAssertEqual(try ByteSize(parsing: text).bytes, bytes, text)
            XCTAssertEqual(ByteSize(argument: text)?.bytes, bytes, text)
        }
    }

    func testByteSizeRejectsMalformedValuesWithAReason() {
        let cases: [(String, String)] = [
            ("", "expected a byte count"), ("abc", "expected a byte count"),
            ("k", "expected a byte count"),
            ("-1", "expected a byte count"), (".5m", "expected a byte count"),
            ("1.", "expected a byte count"),
            ("12x", "'x' is not a size unit"), ("1 k", "' k' is not a size unit"),
            ("1kibi", "'kibi' is not a size unit"), ("1e3", "'e3' is not a size unit"),
            ("9223372036854775808", "too large"), ("99999999999999999999", "too large"),
            ("8589934592g", "too large"),
        ]
        for (text, reason) in cases {
            XCTAssertThrowsError(try ByteSize(parsing: text), text) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(text): \(error)")
            }
            XCTAssertNil(ByteSize(argument: text), text)
        }
        XCTAssertEqual(try ByteSize(parsing: "9223372036854775807").bytes, UInt64(Int64.max))
    }

    func testByteSizeDescriptionIsTheShortestExactSpellingAndReadsBack() throws {
        let cases: [(UInt64, String)] = [
            (16 << 20, "16MiB"), (64 << 10, "64KiB"), (8 << 10, "8KiB"), (1 << 30, "1GiB"),
            (3 << 40, "3TiB"), (1000, "1000"), (1536, "1536"), (0, "0"), (1_572_864, "1536KiB"),
        ]
        for (bytes, text) in cases {
            XCTAssertEqual(ByteSize(bytes: bytes).description, text)
            XCTAssertEqual(try ByteSize(parsing: text).bytes, bytes)
        }
    }

    // MARK: Durations

    func testDurationAcceptsSecondsAndUnits() throws {
        let cases: [(String, Duration)] = [
            ("30", .seconds(30)), ("30s", .seconds(30)), ("30S", .seconds(30)),
            ("500ms", .milliseconds(500)),
            ("500MS", .milliseconds(500)), ("2m", .seconds(120)), ("1.5s", .milliseconds(1500)),
            ("0.1s", .milliseconds(100)), ("1.5", .milliseconds(1500)), ("1h", .seconds(3600)),
            ("0.000000001", .nanoseconds(1)), ("0.0000000019", .nanoseconds(1)), ("0", .zero),
            ("2.5ms", .microseconds(2500)),
        ]
        for (text, duration) in cases {
            XCTAssertEqual(try DurationArgument(parsing: text).duration, duration, text)
            XCTAssertEqual(DurationArgument(argument: text)?.duration, duration, text)
        }
    }

    func testDurationRejectsMalformedValuesWithAReason() {
        let cases: [(String, String)] = [
            ("", "expected seconds"), ("s", "expected seconds"), ("-1s", "expected seconds"),
            ("1.", "expected seconds"), (".5s", "expected seconds"),
            ("5parsecs", "'parsecs' is not a duration unit"),
            ("1e3", "'e3' is not a duration unit"),
            ("1d", "'d' is not a duration unit"), ("1 s", "' s' is not a duration unit"),
            ("9999999999999999999h", "too long"), ("9300000000s", "too long"),
        ]
        for (text, reason) in cases {
            XCTAssertThrowsError(try DurationArgument(parsing: text), text) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(text): \(error)")
            }
            XCTAssertNil(DurationArgument(argument: text), text)
        }
    }

    func testDurationDescriptionReadsBack() throws {
        let cases: [(Duration, String)] = [
            (.seconds(30), "30s"), (.seconds(65), "65s"), (.seconds(60), "60s"),
            (.milliseconds(500), "500ms"),
            (.milliseconds(1500), "1.5s"), (.microseconds(1_000_001), "1.000001s"),
            (.microseconds(250), "0.00025s"),
            (.zero, "0s"),
        ]
        for (duration, text) in cases {
            XCTAssertEqual(DurationArgument(duration).description, text)
            XCTAssertEqual(try DurationArgument(parsing: text).duration, duration, text)
        }
    }

    // MARK: Flags and the configuration

    func testNoFlagsGiveTheDefaultConfiguration() throws {
        let command = try ServeCommand.parse([])
        XCTAssertEqual(command.serverConfiguration, Configuration())
        XCTAssertNil(command.directory)
    }

    /// Each flag changes its own property and no other.
    func testEveryFlagMapsToItsConfigurationProperty() throws {
        let cases: [([String], (inout Configuration) -> Void)] = [
            (["--bind", "tcp://127.0.0.1:8080"], { $0.binds = ["tcp://127.0.0.1:8080"] }),
            (["-b", "unix:///tmp/a.sock"], { $0.binds = ["unix:///tmp/a.sock"] }),
            (["--backlog", "16"], { $0.backlog = 16 }),
            (["--threads", "0"], { $0.threads = 0 }),
            (["-t", "12"], { $0.threads = 12 }),
            (["--max-pending", "40"], { $0.maxPending = 40 }),
            (["--max-inflight", "64"], { $0.maxInflight = 64 }),
            (["--max-body-size", "2g"], { $0.maxBodySize = 2 << 30 }),
            (["--body-memory-limit", "256KiB"], { $0.bodyMemoryLimit = 256 << 10 }),
            (["--max-header-size", "16k"], { $0.maxHeaderSize = 16 << 10 }),
            (["--max-target-size", "2048"], { $0.maxTargetSize = 2048 }),
            (["--max-header-count", "50"], { $0.maxHeaderCount = 50 }),
            (["--max-keepalive-requests", "7"], { $0.maxKeepaliveRequests = 7 }),
            (["--first-data-timeout", "5"], { $0.firstDataTimeout = .seconds(5) }),
            (["--keepalive-timeout", "2m"], { $0.keepaliveTimeout = .seconds(120) }),
            (["--request-timeout", "1.5s"], { $0.requestTimeout = .milliseconds(1500) }),
            (["--body-timeout", "250ms"], { $0.bodyTimeout = .milliseconds(250) }),
            (["--write-timeout", "3s"], { $0.writeTimeout = .seconds(3) }),
            (["--shutdown-timeout", "1h"], { $0.shutdownTimeout = .seconds(3600) }),
            (["--shutdown-idle-grace", "500ms"], { $0.shutdownIdleGrace = .milliseconds(500) }),
            (["--shutdown-idle-grace", "0"], { $0.shutdownIdleGrace = .zero }),
            (["--log-format", "json"], { $0.logFormat = .json }),
            (["--log-format", "text"], { $0.logFormat = .text }),
            (["--access-log"], { $0.accessLog = true }),
            (["--listener", "shared"], { $0.listener = .shared }),
            (["-w", "3"], { $0.workers = 3 }),
            (["--workers", "0"], { $0.workers = 0 }),
            (["--single"], { $0.workers = 0 }),
            (["--worker-timeout", "2s"], { $0.workerTimeout = .seconds(2) }),
            (["--worker-boot-timeout", "90"], { $0.workerBootTimeout = .seconds(90) }),
            (["--pidfile", "/run/r.pid"], { $0.pidfile = "/run/r.pid" }),
            (["--stats-file", "/run/r.json"], { $0.statsFile = "/run/r.json" }),
            (["--drain-delay", "5s"], { $0.drainDelay = .seconds(5) }),
            (["--worker-max-rss", "512m"], { $0.workerMaxRSS = 512 << 20 }),
            (["--worker-max-requests", "1000"], { $0.workerMaxRequests = 1000 }),
            (["--cpu-affinity", "auto"], { $0.cpuAffinity = .auto }),
            (["--metrics-bind", "tcp://127.0.0.1:9100"], { $0.metricsBind = "tcp://127.0.0.1:9100" }),
            (["--metrics-token", "abc"], { $0.metricsToken = "abc" }),
            (["--trusted-proxies", "10.0.0.0/8,::1"], { $0.trustedProxies = ["10.0.0.0/8", "::1"] }),
            (
                ["--trusted-proxies", "10.0.0.0/8", "--trusted-proxies", "::1"],
                { $0.trustedProxies = ["10.0.0.0/8", "::1"] }
            ),
            (["--forwarded-header", "forwarded"], { $0.forwardedHeader = .forwarded }),
            (["--bind", "tcp://0.0.0.0:1?proxy_protocol=v2"], { $0.binds = ["tcp://0.0.0.0:1?proxy_protocol=v2"] }),
            (["--log-level", "debug"], { $0.logLevel = .debug }),
            (["--tls-cert", "a.pem", "--tls-cert", "d"], { $0.tlsCertificates = ["a.pem", "d"] }),
            (["--tls-key", "a.key"], { $0.tlsKeys = ["a.key"] }),
            (["--tls-min-version", "1.3"], { $0.tlsMinVersion = .v1_3 }),
            (["--tls-ciphers", "ECDHE-RSA-AES128-GCM-SHA256"], { $0.tlsCiphers = "ECDHE-RSA-AES128-GCM-SHA256" }),
            (["--tls-ciphersuites", "TLS_AES_128_GCM_SHA256"], { $0.tlsCipherSuites = "TLS_AES_128_GCM_SHA256" }),
            (["--tls-client-ca", "ca.pem"], { $0.tlsClientCA = "ca.pem" }),
            (["--tls-verify", "optional"], { $0.tlsVerify = .optional }),
            (["--tls-ticket-rotation", "1h"], { $0.tlsTicketRotation = .seconds(3600) }),
        ]
        for (arguments, change) in cases {
            var expected = Configuration()
            change(&expected)
            XCTAssertEqual(
                try ServeCommand.parse(arguments).serverConfiguration, expected, "\(arguments)")
        }
    }

    func testBindRepeatsAndReplacesTheDefault() throws {
        let command = try ServeCommand.parse([
            "-b", "tcp://127.0.0.1:1", "--bind", "unix:///tmp/x.sock",
        ])
        XCTAssertEqual(
            command.serverConfiguration.binds, ["tcp://127.0.0.1:1", "unix:///tmp/x.sock"])
    }

    /// The flags are declared in the order of Configuration's properties, one for each
    /// (`staticFiles` standing for the properties of StaticFiles.Options, in their order).
    func testFlagsFollowTheConfigurationPropertiesOneToOne() throws {
        let flagProperties = Mirror(reflecting: try ServeCommand.parse([])).children
            .compactMap { $0.label.map { String($0.drop { $0 == "_" }) } }
            // --single is --workers 0; --check-config is an action, not a setting.
            .filter { $0 != "directory" && $0 != "single" && $0 != "checkConfig" }
        let configurationProperties = Mirror(reflecting: Configuration()).children.flatMap { child in
            child.label == "staticFiles"
                ? Mirror(reflecting: StaticFiles.Options()).children.compactMap(\.label) : [child.label ?? "?"]
        }
        XCTAssertEqual(flagProperties, configurationProperties)
    }

    func testStaticFileFlagsFillStaticFilesOptions() throws {
        let command = try ServeCommand.parse([
            "--cache-control", "max-age=60", "--cache-fingerprinted", "--mime-type", ".WEBP=image/x-test",
            "--mime-type", "foo=application/x-foo", "--mime-type", "foo=application/x-bar", "--dotfiles", "allow",
            "--listing", "--fallback", "index.html", "--no-precompressed", "--file-cache", "0",
        ])
        var expected = StaticFiles.Options()
        expected.cacheControl = "max-age=60"
        expected.cacheFingerprinted = true
        expected.mimeTypes = ["webp": "image/x-test", "foo": "application/x-bar"]  // the last one wins
        expected.dotfiles = .allow
        expected.listing = true
        expected.fallback = "index.html"
        expected.precompressed = false
        expected.fileCache = 0
        XCTAssertEqual(command.serverConfiguration.staticFiles, expected)
        XCTAssertNoThrow(try command.serverConfiguration.validate())
        XCTAssertThrowsError(try ServeCommand.parse(["--dotfiles", "maybe"]))
        XCTAssertThrowsError(try ServeCommand.parse(["--mime-type", "webp"]))
    }

    func testNegativeNumbersReachValidation() throws {
        let command = try ServeCommand.parse(["--threads", "-1"])
        XCTAssertThrowsError(try command.serverConfiguration.validate()) { error in
            XCTAssertEqual("\(error)", "--threads: must be between 0 and 1024")
        }
    }

    func testInvalidConfigurationNamesTheFlag() throws {
        let cases: [([String], String)] = [
            (["--bind", "http://x:1"], "--bind"),
            (["--backlog", "0"], "--backlog"),
            (["--threads", "5000"], "--threads"),
            (["--max-pending", "0"], "--max-pending"),
            (["--max-inflight", "0"], "--max-inflight"),
            (["--max-body-size", "0"], "--max-body-size"),
            (["--body-memory-limit", "0"], "--body-memory-limit"),
            (["--max-header-size", "512"], "--max-header-size"),
            (["--max-target-size", "8"], "--max-target-size"),
            (["--max-header-count", "101"], "--max-header-count"),
            (["--max-keepalive-requests", "0"], "--max-keepalive-requests"),
            (["--first-data-timeout", "0"], "--first-data-timeout"),
            (["--keepalive-timeout", "0s"], "--keepalive-timeout"),
            (["--request-timeout", "0ms"], "--request-timeout"),
            (["--body-timeout", "0"], "--body-timeout"),
            (["--write-timeout", "0"], "--write-timeout"),
            (["--shutdown-timeout", "0"], "--shutdown-timeout"),
            (["--workers", "-1"], "--workers"),
            (["-w", "5000"], "--workers"),
            (["--worker-timeout", "0"], "--worker-timeout"),
            (["--worker-boot-timeout", "0"], "--worker-boot-timeout"),
            (["--pidfile", ""], "--pidfile"),
            (["--stats-file", ""], "--stats-file"),
            (["--drain-delay", "1s", "--single"], "--drain-delay"),
            (["--worker-max-rss", "1k"], "--worker-max-rss"),
            (["--worker-max-rss", "1g", "-w", "0"], "--worker-max-rss"),
            (["--worker-max-requests", "0"], "--worker-max-requests"),
            (["--worker-max-requests", "9", "--single"], "--worker-max-requests"),
            (["--cpu-affinity", "auto", "-w", "0"], "--cpu-affinity"),
            (["--metrics-bind", "http://x:1"], "--metrics-bind"),
            (["--metrics-bind", "tcp://127.0.0.1:1", "--single"], "--metrics-bind"),
            (["--metrics-token", "abc"], "--metrics-token"),
            (["--metrics-bind", "tcp://127.0.0.1:1", "--metrics-token", "a b"], "--metrics-token"),
            (["--metrics-bind", "tcp://127.0.0.1:1?proxy_protocol=v1"], "--metrics-bind"),
            (["--trusted-proxies", "10.0.0.0/33"], "--trusted-proxies"),
            (["--trusted-proxies", "example.com"], "--trusted-proxies"),
            (["--bind", "tcp://0.0.0.0:1?proxy_protocol=v2"], "--bind"),
            (["--bind", "tcp://0.0.0.0:1?proxy_protocol=v3", "--trusted-proxies", "::1"], "--bind"),
            (["--bind", "tcp://0.0.0.0:1?x=1", "--trusted-proxies", "::1"], "--bind"),
        ]
        for (arguments, flag) in cases {
            let configuration = try ServeCommand.parse(arguments).serverConfiguration
            XCTAssertThrowsError(try configuration.validate(), "\(arguments)") { error in
                guard case RaptorError.invalidConfiguration(let option, _) = error else {
                    return XCTFail("\(arguments): \(error)")
                }
                XCTAssertEqual(option, flag)
            }
        }
    }

    /// A negative grace cannot be written on the command line, but a program can set one.
    func testNegativeShutdownIdleGraceIsRefused() {
        var configuration = Configuration()
        configuration.shutdownIdleGrace = .milliseconds(-1)
        XCTAssertThrowsError(try configuration.validate()) { error in
            XCTAssertEqual("\(error)", "--shutdown-idle-grace: must not be negative")
        }
    }

    /// A value ArgumentParser cannot read becomes two lines: the flag and the problem, then
    /// where to read more (not the whole usage).
    func testUnreadableValuesGiveOneErrorLineNamingTheFlag() {
        let cases: [([String], String, String)] = [
            (["--max-body-size", "12x"], "--max-body-size", "'x' is not a size unit"),
            (
                ["serve", "--write-timeout", "5parsecs"], "--write-timeout",
                "'parsecs' is not a duration unit"
            ),
            (["--log-format", "xml"], "--log-format", "'text' and 'json'"),
            (["--threads", "many"], "--threads", "'many' is invalid"),
            (["--frobnicate"], "--frobnicate", "Unknown option"),
        ]
        for (arguments, flag, problem) in cases {
            XCTAssertThrowsError(try RaptorCommand.parseAsRoot(arguments), "\(arguments)") {
                error in
                XCTAssertEqual(RaptorCommand.exitCode(for: error), .validationFailure)
                let lines = RaptorCommandLine.usageErrorText(for: error).split(separator: "\n")
                XCTAssertEqual(lines.count, 2, "\(lines)")
                XCTAssertTrue(lines.first?.hasPrefix("Error: ") ?? false, "\(lines)")
                XCTAssertTrue(lines.first?.contains(flag) ?? false, "\(lines)")
                XCTAssertTrue(lines.first?.contains(problem) ?? false, "\(lines)")
                XCTAssertTrue(lines.last?.contains("serve --help") ?? false, "\(lines)")
            }
        }
    }

    // MARK: The root command

    func testServeIsTheDefaultSubcommand() throws {
        XCTAssertTrue(try RaptorCommand.parseAsRoot([]) is ServeCommand)
        let withFlags = try XCTUnwrap(
            try RaptorCommand.parseAsRoot(["-t", "2", "site"]) as? ServeCommand)
        XCTAssertEqual(withFlags.threads, 2)
        XCTAssertEqual(withFlags.directory, "site")
    }

    func testVersionNamesTheCLibraries() {
        let version = RaptorVersion.description
        XCTAssertTrue(version.hasPrefix("raptor-ev \(RaptorVersion.current) (libev "), version)
        XCTAssertTrue(version.contains(", http_parser "), version)
        XCTAssertTrue(version.contains(", OpenSSL 3."), version)
        XCTAssertTrue(version.hasSuffix(")"), version)
    }

    func testServeHelpDescribesEveryFlagSignalsAndSyntax() {
        let help = ServeCommand.helpMessage(columns: 1000)  // wide: no line break inside a phrase
        let flags = [
            "--bind", "-b", "--backlog", "--threads", "-t", "--max-pending", "--max-inflight", "--max-body-size",
            "--body-memory-limit", "--max-header-size", "--max-target-size", "--max-header-count",
            "--max-keepalive-requests", "--first-data-timeout", "--keepalive-timeout",
            "--request-timeout", "--body-timeout", "--write-timeout", "--shutdown-timeout", "--shutdown-idle-grace",
            "--log-format", "--access-log", "<dir>", "--workers", "-w", "--single", "--listener",
            "--worker-timeout", "--worker-boot-timeout", "--pidfile", "--stats-file", "--log-level",
            "--tls-cert", "--tls-key", "--tls-min-version", "--tls-ciphers", "--tls-ciphersuites",
            "--tls-client-ca", "--tls-verify", "--tls-ticket-rotation",
        ]
        for flag in flags { XCTAssertTrue(help.contains(flag), flag) }
        for text in [
            "INT, TERM", "unix:///PATH", "tcp://[IPV6]:PORT", "ssl://HOST:PORT", "?cert=PATH&key=PATH",
            "(default: 12h)",
            "KiB", "500ms", "(default: 16MiB)",
            "(default: 65s)", "(default: tcp://0.0.0.0:9292)", "(default: 1024)",
        ] {
            XCTAssertTrue(help.contains(text), text)
        }
    }

    // MARK: The handler

    func testADirectoryWithAProgramHandlerIsAnError() throws {
        let program = ApplicationSource.handler { _ in Response() }
        XCTAssertNoThrow(try ServeCommand.parse([]).resolveApplication(program: program))
        XCTAssertThrowsError(
            try ServeCommand.parse(["site"]).resolveApplication(program: program)
        ) {
            error in
            guard case RaptorError.invalidConfiguration(let option, _) = error else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(option, "DIR")
        }
    }

    func testDefaultStaticRootPrefersPublic() throws {
        let base = "/tmp/raptor-cli-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertEqual(mkdir(base, 0o700), 0)
        defer {
            rmdir(base + "/public")
            rmdir(base)
        }
        XCTAssertEqual(ServeCommand.defaultStaticRoot(in: base), base)
        XCTAssertEqual(mkdir(base + "/public", 0o755), 0)
        XCTAssertEqual(ServeCommand.defaultStaticRoot(in: base), base + "/public")
    }
}
