import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A server under test for the TLS suite: started with its flags on an ephemeral port,
/// stopped (and its scratch directory removed) when the test lets go of it.
final class TLSTestServer {
    let process: ServerProcess
    let directory: URL
    var port: UInt16 { process.port }

    /// `raptor-testapp` (or `binary`) with `flags`; `--bind` defaults to an ssl:// address
    /// with the localhost certificate, `--workers 0` with `--threads 0` (inline) unless
    /// `flags` say otherwise.
    init(
        _ flags: [String], threads: Int = 0, writes: TLSWritePath = .buffered, binary: String = Binaries.testApp,
        leading: [String] = []
    ) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("raptor-tls-it-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificates = try TestCertificates.shared
        var arguments = leading + flags
        if !flags.contains("--bind") {
            arguments += ["--bind", "ssl://127.0.0.1:0"]
            if !flags.contains("--tls-cert") {
                arguments += [
                    "--tls-cert", certificates.localhost.certificate, "--tls-key", certificates.localhost.key,
                ]
            }
        }
        if !flags.contains("--threads") { arguments += ["--threads", String(threads)] }
        if threads == 0 && !flags.contains("--workers") && !flags.contains("-w") { arguments += ["--workers", "0"] }
        if !flags.contains("--log-format") { arguments += ["--log-format", "json"] }
        if !flags.contains("--shutdown-timeout") { arguments += ["--shutdown-timeout", "3s"] }
        do {
            // The port is the first ssl:// address's (a mixed test reads the others from the log).
            let transport: ServerMode.Transport = arguments.contains { $0.hasPrefix("ssl://") } ? .tls : .tcp
            process = try ServerProcess(
                binary: binary, arguments: arguments, transport: transport, outputDirectory: directory,
                environment: writes.environment)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    deinit {
        if !process.stopRequested, let status = process.process.poll() {
            Issue.record("the server died during the test (\(status)): \(process.commandLine)\n\(process.logTail)")
        }
        process.stop(timeout: 5)
        try? FileManager.default.removeItem(at: directory)
    }

    /// A TLS connection (SNI localhost, ALPN http/1.1, the server verified against the
    /// test CA unless `options` say otherwise).
    func connect(_ options: TLSClientOptions? = nil, port: UInt16? = nil, receiveBufferSize: Int? = nil) throws
        -> RawClient
    {
        let defaults = TLSClientOptions(alpn: "http/1.1", caFile: try TestCertificates.shared.caFile)
        return try RawClient(
            port: port ?? self.port, timeout: 10, receiveBufferSize: receiveBufferSize, tls: options ?? defaults)
    }

    /// One request on a new TLS connection.
    func get(_ target: String, _ options: TLSClientOptions? = nil) throws -> HTTPResponseMessage {
        let client = try connect(options)
        defer { client.close() }
        try client.send(Requests.get(target, "Connection: close\r\n"))
        return try client.readResponse()
    }

    /// The `/tls` route's `key=value` words for a connection made with `options`.
    func session(_ options: TLSClientOptions? = nil) throws -> [String: String] {
        Self.words(try get("/tls", options).bodyText)
    }

    static func words(_ text: String) -> [String: String] {
        var words: [String: String] = [:]
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = word.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { words[String(parts[0])] = String(parts[1]) }
        }
        return words
    }

    /// The URLs of the `listening` lines, once there are `count` of them (bounded wait).
    func listeningURLs(count: Int) -> [String] {
        var urls: [String] = []
        waitUntil(timeout: 10) {
            urls = events("listening").compactMap { $0["url"] as? String }
            return urls.count >= count
        }
        return urls
    }

    /// The port of a listening URL.
    static func port(of url: String) -> UInt16? { url.split(separator: ":").last.flatMap { UInt16($0) } }

    /// The log lines (JSON) whose message is `message`.
    func events(_ message: String) -> [[String: Any]] {
        process.standardError.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["message"] as? String == message
            else { return nil }
            return object
        }
    }

    /// Every log line at `level` or worse.
    func lines(atLeast levels: Set<String>) -> [String] {
        process.standardError.split(separator: "\n").map(String.init).filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                return false
            }
            return levels.contains(object["level"] as? String ?? "")
        }
    }

    /// A fresh path for `--stats-file` (the caller removes the file).
    static func statsFilePath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("stats-\(UUID().uuidString.prefix(6))").path
    }

    /// A counter summed over the workers, from the stats file (`--stats-file` must be set).
    func stat(_ name: String, file: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: file),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let totals = object["totals"] as? [String: Any]
        else { return nil }
        return totals[name] as? Int
    }
}

/// Dispatch modes: handlers inline on the loop thread (one process), or on the pool.
let tlsDispatchModes = [0, 5]

/// How the server's OpenSSL writes: into raptor-ev's buffer, one sendmsg per call (without
/// kernel TLS, as on this machine), or straight to the socket through a socket BIO (the
/// kernel TLS set-up, where a write that would block must be retried with the same bytes),
/// exercised here without kernel TLS.
enum TLSWritePath: String, CaseIterable, CustomTestStringConvertible {
    case buffered, socket

    var environment: [String: String] { self == .socket ? ["RAPTOR_TLS_SOCKET_WRITES": "1"] : [:] }
    var testDescription: String { "\(rawValue) writes" }
}

@Suite("TLS", .serialized, .exclusive)
struct TLSTests {
    let certificates: TestCertificates

    init() throws {
        certificates = try TestCertificates.shared
    }

    // MARK: Clients

    @Test(
        "curl, Python's ssl module and openssl s_client complete a handshake and a request",
        arguments: tlsDispatchModes, TLSWritePath.allCases)
    func realClients(threads: Int, writes: TLSWritePath) throws {
        let server = try TLSTestServer([], threads: threads, writes: writes)
        let curl = try ExternalClient.curl(
            ["-sS", "--cacert", certificates.caFile, "https://localhost:\(server.port)/"],
            outputDirectory: server.directory)
        #expect(curl.succeeded, "\(curl)")
        #expect(curl.standardOutput == "Hello, World!")

        let python = try ExternalClient.python(
            """
            import socket, ssl, sys
            context = ssl.create_default_context(cafile=sys.argv[2])
            with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(b"GET /tls HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n")
                    data = b""
                    while chunk := tls.recv(65536):
                        data += chunk
                    print(tls.version(), data.decode().split("\\r\\n\\r\\n", 1)[1], end="")
            """, arguments: [String(server.port), certificates.caFile], outputDirectory: server.directory)
        #expect(python.succeeded, "\(python)")
        #expect(python.standardOutput.hasPrefix("TLSv1.3 secure=true version=TLSv1.3"), "\(python)")

        let sClient = try SClient.run(
            port: server.port, ["-servername", "localhost", "-CAfile", certificates.caFile],
            request: "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", directory: server.directory)
        #expect(sClient.handshakeSucceeded, "\(sClient.result)")
        #expect(sClient.output.contains("Verify return code: 0 (ok)"), "\(sClient.result)")
        #expect(sClient.output.contains("Hello, World!"), "\(sClient.result)")
    }

    @Test("tcp:// and ssl:// addresses mix; the handler sees the session", arguments: tlsDispatchModes)
    func mixedBindsAndSessionDetails(threads: Int) throws {
        let server = try TLSTestServer(
            [
                "--bind", "ssl://127.0.0.1:0", "--bind", "tcp://127.0.0.1:0", "--tls-cert",
                certificates.localhost.certificate, "--tls-key", certificates.localhost.key,
            ], threads: threads)
        let plainPort = try #require(
            server.listeningURLs(count: 2).first { $0.hasPrefix("tcp://") }.flatMap(TLSTestServer.port(of:)))
        let session = try server.session()
        #expect(session["secure"] == "true")
        #expect(session["version"] == "TLSv1.3")
        #expect(session["cipher"] == "TLS_AES_128_GCM_SHA256", "the server's order of preference")
        #expect(session["sni"] == "localhost")
        #expect(session["alpn"] == "http/1.1")
        #expect(session["client"] == "-")

        let plain = try RawClient(port: plainPort, timeout: 10)
        defer { plain.close() }
        try plain.send(Requests.get("/tls"))
        #expect(TLSTestServer.words(try plain.readResponse().bodyText)["secure"] == "false")

        let tls12 = try server.session(
            TLSClientOptions(alpn: nil, caFile: certificates.caFile, maxVersion: 12))
        #expect(tls12["version"] == "TLSv1.2")
        #expect(tls12["cipher"] == "ECDHE-ECDSA-AES128-GCM-SHA256")
        #expect(tls12["alpn"] == "-")
    }

    // MARK: Certificates

    @Test("SNI picks the certificate whose names match (wildcards too); the first one otherwise")
    func sniPicksTheCertificate() throws {
        let server = try TLSTestServer([
            "--tls-cert", certificates.localhost.certificate, "--tls-key", certificates.localhost.key,
            "--tls-cert", certificates.named.certificate, "--tls-key", certificates.named.key,
            "--tls-cert", certificates.wildcard.certificate, "--tls-key", certificates.wildcard.key,
        ])
        let expected: [(String?, String)] = [
            ("localhost", "CN=localhost"), ("a.example.test", "CN=a.example.test"),
            ("A.Example.TEST", "CN=a.example.test"), ("x.wild.example.test", "CN=wild"),
            ("deep.x.wild.example.test", "CN=localhost"), ("wild.example.test", "CN=localhost"),
            ("unknown.test", "CN=localhost"), (nil, "CN=localhost"),
        ]
        for (name, subject) in expected {
            let client = try server.connect(TLSClientOptions(serverName: name, alpn: "http/1.1"))
            defer { client.close() }
            #expect(client.tlsSession?.peerSubject == "/" + subject, "server name \(name ?? "(none)")")
            try client.send(Requests.get("/tls"))
            #expect(TLSTestServer.words(try client.readResponse().bodyText)["sni"] == (name ?? "-"))
        }
    }

    @Test("a directory of pairs, per-address certificates in the URL, and a chain in one file")
    func certificateSources() throws {
        let pairs = FileManager.default.temporaryDirectory.appendingPathComponent(
            "pairs-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: pairs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: pairs) }
        // In name order: "1-local" is the default.
        for (name, pair) in [("1-local", certificates.localhost), ("2-named", certificates.named)] {
            try FileManager.default.copyItem(atPath: pair.certificate, toPath: pairs.path + "/\(name).crt")
            try FileManager.default.copyItem(atPath: pair.key, toPath: pairs.path + "/\(name).key")
        }
        try "not a pair".write(toFile: pairs.path + "/README", atomically: true, encoding: .utf8)
        let chained = certificates.chained
        let server = try TLSTestServer([
            "--bind", "ssl://127.0.0.1:0", "--tls-cert", pairs.path,
            "--bind", "ssl://127.0.0.1:0?cert=\(chained.certificate)&key=\(chained.key)",
        ])
        let ports = server.listeningURLs(count: 2).compactMap(TLSTestServer.port(of:))
        try #require(ports.count == 2, "\(server.process.logTail)")
        let byDirectory = try server.connect(TLSClientOptions(serverName: nil), port: ports[0])
        #expect(byDirectory.tlsSession?.peerSubject == "/CN=localhost")
        byDirectory.close()
        let named = try server.connect(TLSClientOptions(serverName: "a.example.test"), port: ports[0])
        #expect(named.tlsSession?.peerSubject == "/CN=a.example.test")
        named.close()
        // The chain's intermediate comes from the server: the client knows only the root.
        let chain = try server.connect(
            TLSClientOptions(serverName: "chain.example.test", caFile: certificates.caFile), port: ports[1])
        #expect(chain.tlsSession?.peerSubject == "/CN=chain.example.test")
        try chain.send(Requests.get("/"))
        #expect(try chain.readResponse().bodyText == "Hello, World!")
        chain.close()
    }

    @Test(
        "ALPN selects h2 before http/1.1 (the server's order); with --http2 off, a client offering only h2 is refused with an alert"
    )
    func alpn() throws {
        let server = try TLSTestServer([])
        let choices = [("h2,http/1.1", "h2"), ("http/1.1,h2", "h2"), ("http/1.1", "http/1.1"), ("h2", "h2"), (nil, "")]
        for (offered, selected) in choices {
            let client = try server.connect(TLSClientOptions(alpn: offered))
            #expect(client.tlsSession?.alpn == selected, "offered \(offered ?? "nothing")")
            client.close()
        }
        let http1Only = try TLSTestServer(["--http2", "off"])
        let client = try http1Only.connect(TLSClientOptions(alpn: "h2,http/1.1"))
        #expect(client.tlsSession?.alpn == "http/1.1")
        client.close()
        #expect(throws: RawClient.Failure.self) { try http1Only.connect(TLSClientOptions(alpn: "h2")) }
        let sClient = try SClient.run(port: http1Only.port, ["-alpn", "h2"], directory: http1Only.directory)
        #expect(sClient.output.contains("no application protocol"), "\(sClient.result)")
    }

    @Test("TLS 1.0 and 1.1 are refused; --tls-min-version 1.3 refuses 1.2")
    func oldVersionsAreRefused() throws {
        let stats = TLSTestServer.statsFilePath()
        defer { unlink(stats) }
        let server = try TLSTestServer(["--stats-file", stats])
        for version in [10, 11] {
            #expect(throws: RawClient.Failure.self, "TLS 1.\(version - 10)") {
                try server.connect(TLSClientOptions(minVersion: version, maxVersion: version))
            }
        }
        #expect(try server.connect(TLSClientOptions(maxVersion: 12)).tlsSession?.version == "TLSv1.2")
        #expect(
            waitUntil(timeout: 5) { server.stat("tls_handshake_errors", file: stats) == 2 },
            "tls_handshake_errors: \(String(describing: server.stat("tls_handshake_errors", file: stats)))")

        let strict = try TLSTestServer(["--tls-min-version", "1.3"])
        #expect(throws: RawClient.Failure.self) { try strict.connect(TLSClientOptions(maxVersion: 12)) }
        #expect(try strict.connect(TLSClientOptions()).tlsSession?.version == "TLSv1.3")
    }

    // MARK: Resumption

    @Test("a session ticket from one worker resumes on another (openssl s_client -sess_out/-sess_in)")
    func resumptionAcrossWorkers() throws {
        let server = try TLSTestServer(["--workers", "2"], threads: 2)
        #expect(waitUntil(timeout: 20) { !server.events("all workers booted").isEmpty }, "\(server.process.logTail)")
        let session = server.directory.appendingPathComponent("session.pem").path
        let request = "GET /tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        let first = try SClient.run(
            port: server.port, ["-sess_out", session], request: request, directory: server.directory)
        #expect(first.output.contains("secure=true"), "\(first.result)")
        #expect(!first.reused)
        let issuer = try #require(TLSTestServer.words(first.output)["pid"])
        // The kernel spreads connections over the two workers: within a few tries one lands
        // on the worker that did not issue the ticket, and must resume there.
        var resumedElsewhere = false
        for _ in 0..<40 where !resumedElsewhere {
            let next = try SClient.run(
                port: server.port, ["-sess_in", session], request: request, directory: server.directory)
            guard next.reused else {
                Issue.record("not resumed: \(next.result)")
                break
            }
            resumedElsewhere = TLSTestServer.words(next.output)["pid"].map { $0 != issuer } ?? false
        }
        #expect(resumedElsewhere, "no connection reached the second worker, or it did not resume")

        // The workers that replace these in a phased restart share the keys too.
        kill(server.process.pid, SIGUSR2)
        #expect(waitUntil(timeout: 30) { !server.events("phased restart finished").isEmpty })
        let afterRestart = try SClient.run(
            port: server.port, ["-sess_in", session], request: request, directory: server.directory)
        #expect(afterRestart.reused, "not resumed by a replacement worker: \(afterRestart.result)")
        #expect(TLSTestServer.words(afterRestart.output)["pid"] != issuer)
    }

    @Test("every TLS 1.3 resumption brings a new ticket: a client that uses each ticket once keeps resuming")
    func everyResumptionBringsANewTicket() throws {
        let server = try TLSTestServer([])
        let request = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        func ticketFile(_ use: Int) -> String { server.directory.appendingPathComponent("ticket-\(use).pem").path }
        try newSession(server, ticketFile(0))
        // RFC 8446 C.4: a client should not use a ticket twice; s_client -sess_out writes
        // only the tickets that arrive on this connection.
        for use in 1...3 {
            let outcome = try SClient.run(
                port: server.port, ["-sess_in", ticketFile(use - 1), "-sess_out", ticketFile(use)], request: request,
                directory: server.directory)
            #expect(outcome.reused, "use \(use): not resumed: \(outcome.result)")
            #expect(
                outcome.output.contains("New Session Ticket arrived"),
                "use \(use): the resumed connection brought no new ticket: \(outcome.result)")
            try #require(FileManager.default.fileExists(atPath: ticketFile(use)), "use \(use): no ticket saved")
        }

        // A TLS 1.2 ticket is not renewed with its key unchanged, and resumes again.
        let tls12 = server.directory.appendingPathComponent("tls12.pem").path
        let first = try SClient.run(
            port: server.port, ["-tls1_2", "-sess_out", tls12], request: request, directory: server.directory)
        try #require(first.handshakeSucceeded && !first.reused, "\(first.result)")
        for use in 1...2 {
            let outcome = try SClient.run(
                port: server.port, ["-tls1_2", "-sess_in", tls12], request: request, directory: server.directory)
            #expect(outcome.reused, "TLS 1.2 use \(use): not resumed: \(outcome.result)")
        }
    }

    /// Whether the session saved in `file` still resumes.
    func resumes(_ server: TLSTestServer, _ file: String) throws -> Bool {
        let request = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        return try SClient.run(port: server.port, ["-sess_in", file], request: request, directory: server.directory)
            .reused
    }

    /// Saves a new session (its ticket) to `file`.
    func newSession(_ server: TLSTestServer, _ file: String) throws {
        let request = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        let outcome = try SClient.run(
            port: server.port, ["-sess_out", file], request: request, directory: server.directory)
        try #require(outcome.handshakeSucceeded && !outcome.reused, "\(outcome.result)")
    }

    @Test(
        "ticket keys rotate every --tls-ticket-rotation; a ticket of the previous key still resumes, older ones do not")
    func ticketKeyRotation() throws {
        // Rotations are logged at debug level: the test acts on them as they happen.
        let server = try TLSTestServer(["--tls-ticket-rotation", "3s", "--log-level", "debug"])
        func rotations() -> Int { server.lines(atLeast: ["debug"]).filter { $0.contains("ticket key rotated") }.count }
        func nextRotation(after count: Int) throws -> Int {
            try #require(waitUntil(timeout: 6) { rotations() > count }, "no rotation within 6 s")
            return rotations()
        }
        var seen = try nextRotation(after: rotations())
        // A ticket made 1.5 s into an interval.
        usleep(1_500_000)
        let ticket = server.directory.appendingPathComponent("session.pem").path
        try newSession(server, ticket)
        #expect(try resumes(server, ticket))
        // After the next rotation its key is the previous one: still accepted.
        seen = try nextRotation(after: seen)
        usleep(500_000)
        #expect(try resumes(server, ticket), "a ticket of the previous key was refused")
        // After the one after, its key is gone, 1 s before the ticket's own lifetime (two
        // intervals) would end it.
        seen = try nextRotation(after: seen)
        usleep(500_000)
        #expect(!(try resumes(server, ticket)), "a ticket two rotations old still resumes: its key was kept")
    }

    // MARK: Client certificates

    @Test("--tls-verify required: only a client with a certificate from the client CA is served")
    func requiredClientCertificates() throws {
        let server = try TLSTestServer(["--tls-client-ca", certificates.clientCAFile])
        #expect(throws: RawClient.Failure.self) { try server.get("/tls") }
        let stranger = TLSClientOptions(
            caFile: certificates.caFile, certificateFile: certificates.strangerClient.certificate,
            keyFile: certificates.strangerClient.key)
        #expect(throws: RawClient.Failure.self) { try server.get("/tls", stranger) }
        let alice = TLSClientOptions(
            caFile: certificates.caFile, certificateFile: certificates.client.certificate,
            keyFile: certificates.client.key)
        #expect(try server.get("/tls", alice).bodyText.contains("client=O=Raptor Tests,CN=alice "))
    }

    @Test("--tls-verify optional: a client without a certificate is served, one with a bad certificate is not")
    func optionalClientCertificates() throws {
        let server = try TLSTestServer(["--tls-client-ca", certificates.clientCAFile, "--tls-verify", "optional"])
        #expect(try server.session()["client"] == "-")
        let alice = TLSClientOptions(
            caFile: certificates.caFile, certificateFile: certificates.client.certificate,
            keyFile: certificates.client.key)
        #expect(try server.get("/tls", alice).bodyText.contains("client=O=Raptor Tests,CN=alice "))
        let stranger = TLSClientOptions(
            caFile: certificates.caFile, certificateFile: certificates.strangerClient.certificate,
            keyFile: certificates.strangerClient.key)
        #expect(throws: RawClient.Failure.self) { try server.get("/tls", stranger) }
    }

    // MARK: What is not TLS

    @Test(
        "a plain HTTP request on a TLS port gets a plain-text 400, then the connection closes",
        arguments: tlsDispatchModes)
    func plainRequestOnTheTLSPort(threads: Int) throws {
        let server = try TLSTestServer([], threads: threads)
        let client = try RawClient(port: server.port, timeout: 10)
        defer { client.close() }
        try client.send(Requests.get("/") + Requests.get("/request?n=follower"))
        let response = try client.readResponse()
        #expect(response.status == 400)
        #expect(response.bodyText.contains("HTTPS"), "\(response.bodyText)")
        #expect(response.saysClose)
        let (closed, rest) = client.waitForClose(timeout: 5)
        #expect(closed)
        #expect(rest.isEmpty, "the follower was answered: \(String(decoding: rest, as: UTF8.self))")
        #expect(try server.get("/").bodyText == "Hello, World!")
    }

    @Test(
        "garbage instead of a ClientHello: closed at once, counted, never logged above debug",
        arguments: tlsDispatchModes)
    func garbageInsteadOfClientHello(threads: Int) throws {
        let stats = TLSTestServer.statsFilePath()
        defer { unlink(stats) }
        let server = try TLSTestServer(["--stats-file", stats, "--log-level", "debug"], threads: threads)
        let garbage: [[UInt8]] = [
            [0, 1, 2, 3, 4, 5, 6, 7],
            [0x80, 0x2e, 0x01, 0x03, 0x01] + [UInt8](repeating: 0xff, count: 40),
            [0x16, 0x03, 0x01, 0x00, 0x10] + [UInt8](repeating: 0x41, count: 16),
        ]
        for bytes in garbage {
            let client = try RawClient(port: server.port, timeout: 10)
            defer { client.close() }
            try client.send(bytes)
            let (closed, received) = client.waitForClose(timeout: 5)
            #expect(closed, "not closed after \(bytes.prefix(5))")
            // At most a TLS alert record comes back (type 21), never HTTP.
            #expect(received.isEmpty || received.first == 0x15, "got \(received.prefix(20))")
        }
        #expect(try server.get("/").bodyText == "Hello, World!")
        #expect(waitUntil(timeout: 5) { server.stat("tls_handshake_errors", file: stats) == garbage.count })
        let aboveDebug = server.lines(atLeast: ["info", "notice", "warning", "error", "critical"])
        #expect(aboveDebug.filter { $0.contains("handshake") }.isEmpty, "\(aboveDebug)")
        let debug = server.lines(atLeast: ["debug"]).filter { $0.contains("TLS handshake failed") }
        #expect(debug.count == garbage.count, "\(debug)")
        #expect(debug.first?.contains("not a TLS ClientHello (first byte 0x00) (client 127.0.0.1:") == true, "\(debug)")
    }

    @Test("a handshake that never completes is closed at the first-data timeout", arguments: tlsDispatchModes)
    func handshakeThatNeverCompletes(threads: Int) throws {
        let stats = TLSTestServer.statsFilePath()
        defer { unlink(stats) }
        let server = try TLSTestServer(["--first-data-timeout", "1s", "--stats-file", stats], threads: threads)
        // Nothing at all, and the first bytes of a ClientHello that never ends.
        let openings: [[UInt8]] = [[], [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]]
        for opening in openings {
            let client = try RawClient(port: server.port, timeout: 10)
            defer { client.close() }
            if !opening.isEmpty { try client.send(opening) }
            let ((closed, received), seconds) = measureSeconds { client.waitForClose(timeout: 8) }
            #expect(closed, "still open after \(seconds) s")
            #expect(received.isEmpty, "got \(received.prefix(20))")
            #expect(seconds > 0.7 && seconds < 4, "closed after \(seconds) s, --first-data-timeout 1s")
        }
        #expect(waitUntil(timeout: 5) { server.stat("tls_handshake_errors", file: stats) == openings.count })
        #expect(server.stat("timeouts", file: stats) == openings.count)
        #expect(try server.get("/").bodyText == "Hello, World!")
    }

    // MARK: Behind a load balancer, and in the metrics

    @Test(
        "an ssl:// bind with the PROXY protocol reads the header in the clear, then the handshake",
        arguments: tlsDispatchModes)
    func proxyHeaderBeforeTheHandshake(threads: Int) throws {
        let stats = TLSTestServer.statsFilePath()
        defer { unlink(stats) }
        let server = try TLSTestServer(
            [
                "--bind", "ssl://127.0.0.1:0?proxy_protocol=v2", "--tls-cert", certificates.localhost.certificate,
                "--tls-key", certificates.localhost.key, "--trusted-proxies", "127.0.0.1", "--stats-file", stats,
            ], threads: threads)
        func remote(_ preface: [UInt8]) throws -> String? {
            var options = TLSClientOptions(alpn: "http/1.1", caFile: certificates.caFile)
            options.preface = preface
            let client = try server.connect(options)
            defer { client.close() }
            try client.send(Requests.get("/request"))
            let first = TLSTestServer.words(try client.readResponse().bodyText)["remote"]
            // The next request on the connection is the same client's.
            try client.send(Requests.get("/request", "Connection: close\r\n"))
            #expect(TLSTestServer.words(try client.readResponse().bodyText)["remote"] == first)
            return first
        }
        #expect(try remote(ClientAddressTests.v2([203, 0, 113, 9])) == "203.0.113.9")
        // A header and the ClientHello in one segment, and a header of 16 + 36 bytes (IPv6).
        let six: [UInt8] =
            [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x21, 0, 36]
            + [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [7] + [UInt8](repeating: 0, count: 15)
            + [1] + [0x12, 0x67, 0x01, 0xbb]
        #expect(try remote(six) == "2001:db8::7")

        // Without a header (the ClientHello first), or with the wrong version: closed
        // unanswered, counted as PROXY errors, not as failed handshakes.
        for opening in [ClientAddressTests.v1("203.0.113.9"), []] {
            var options = TLSClientOptions(alpn: "http/1.1", caFile: certificates.caFile)
            options.preface = opening
            #expect(throws: RawClient.Failure.self) { try server.connect(options).close() }
        }
        #expect(waitUntil(timeout: 5) { server.stat("proxy_errors", file: stats) == 2 })
        #expect(server.stat("tls_handshake_errors", file: stats) == 0)
    }

    @Test("failed handshakes count in /metrics: raptor_tls_handshake_errors_total, per worker and for the cluster")
    func handshakeErrorsInTheMetrics() throws {
        let server = try TLSTestServer(["-w", "1", "--metrics-bind", "tcp://127.0.0.1:0"])
        var metricsPort: UInt16?
        waitUntil(timeout: 10) {
            metricsPort = server.events("metrics listening").first.flatMap {
                ($0["url"] as? String).flatMap(TLSTestServer.port(of:))
            }
            return metricsPort != nil
        }
        let port = try #require(metricsPort)
        /// The sum of a family's samples in one scrape (nil when the family is absent).
        func metric(_ name: String) -> Double? {
            guard let client = try? RawClient(port: port, timeout: 10) else { return nil }
            defer { client.close() }
            guard (try? client.send(Requests.get("/metrics", "Connection: close\r\n"))) != nil,
                let response = try? client.readResponse(), response.status == 200
            else { return nil }
            let values = response.bodyText.split(separator: "\n").compactMap { line -> Double? in
                guard line.hasPrefix(name + "{") || line.hasPrefix(name + " ") else { return nil }
                return line.split(separator: " ").last.flatMap { Double($0) }
            }
            return values.isEmpty ? nil : values.reduce(0, +)
        }
        #expect(waitUntil(timeout: 10) { metric("raptor_tls_handshake_errors_total") == 0 })
        #expect(try server.get("/").bodyText == "Hello, World!")  // a handshake that succeeds counts nothing

        let garbage = try RawClient(port: server.port, timeout: 10)
        try garbage.send([0, 1, 2, 3, 4, 5, 6, 7])
        #expect(garbage.waitForClose(timeout: 5).closed)
        garbage.close()
        var old = TLSClientOptions(caFile: certificates.caFile)
        old.maxVersion = 11
        #expect(throws: RawClient.Failure.self) { try server.connect(old).close() }

        #expect(
            waitUntil(timeout: 10) {
                metric("raptor_tls_handshake_errors_total") == 2
                    && metric("raptor_cluster_tls_handshake_errors_total") == 2
            },
            "\(String(describing: metric("raptor_tls_handshake_errors_total")))")
    }

    // MARK: Certificates renewed while serving

    /// A server whose certificate files live in its own directory, so a test can replace
    /// them; `-w 2` with 2 threads each, a stats file.
    func clusterWithReplaceableCertificate(_ flags: [String] = []) throws -> (TLSTestServer, String, String) {
        let holder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "certs-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: holder, withIntermediateDirectories: true)
        let certificate = holder.path + "/cert.pem", key = holder.path + "/key.pem"
        try FileManager.default.copyItem(atPath: certificates.localhost.certificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: certificates.localhost.key, toPath: key)
        let server = try TLSTestServer(
            ["--workers", "2", "--tls-cert", certificate, "--tls-key", key] + flags, threads: 2)
        try #require(
            waitUntil(timeout: 20) { !server.events("all workers booted").isEmpty }, "\(server.process.logTail)")
        return (server, certificate, key)
    }

    /// Replaces a certificate and its key on disk, each by a rename (as certbot does).
    func replace(certificate: String, key: String, with pair: (certificate: String, key: String)) throws {
        for (source, target) in [(pair.key, key), (pair.certificate, certificate)] {
            try? FileManager.default.removeItem(atPath: target + ".new")
            try FileManager.default.copyItem(atPath: source, toPath: target + ".new")
            #expect(rename(target + ".new", target) == 0)
        }
    }

    @Test(
        "a certificate renewed on disk is served after USR2 and after HUP, under load, with no failed request",
        arguments: [SIGUSR2, SIGHUP])
    func renewedCertificateUnderLoad(signal: Int32) throws {
        let (server, certificate, key) = try clusterWithReplaceableCertificate()
        let verify = TLSClientOptions(caFile: certificates.caFile)
        let load = LoadClient(port: server.port, threads: 4, tls: verify)
        #expect(waitUntil(timeout: 20) { load.snapshot.ok >= 100 }, "load: \(load.snapshot)")

        let renewed = "renewed-\(signal)-\(UUID().uuidString.prefix(6))"
        try certificates.makeLeaf(
            renewed, subject: "/CN=localhost/O=Renewed", names: "DNS:localhost,IP:127.0.0.1", ca: "ca")
        try replace(certificate: certificate, key: key, with: certificates.pair(renewed))
        kill(server.process.pid, signal)
        let done = signal == SIGUSR2 ? "phased restart finished" : "old worker exited (hot restart)"
        #expect(
            waitUntil(timeout: 30) { server.events(done).count >= (signal == SIGUSR2 ? 1 : 2) },
            "\(server.process.logTail)")
        let served = load.snapshot.ok
        #expect(waitUntil(timeout: 20) { load.snapshot.ok >= served + 100 }, "load: \(load.snapshot)")
        let summary = load.stop()
        #expect(summary.failures.isEmpty, "\(summary)")
        #expect(summary.unanswered == 0, "\(summary)")

        let client = try server.connect(verify)
        #expect(client.tlsSession?.peerSubject == "/CN=localhost/O=Renewed")
        client.close()
        #expect(server.lines(atLeast: ["error"]).isEmpty, "\(server.process.logTail)")
    }

    @Test("a certificate that does not load at USR2 or HUP: one error line, the workers go on serving")
    func brokenCertificateAtRestart() throws {
        let (server, certificate, _) = try clusterWithReplaceableCertificate()
        let started = server.events("worker started").count
        try "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".write(
            toFile: certificate + ".new", atomically: true, encoding: .utf8)
        #expect(rename(certificate + ".new", certificate) == 0)
        for (signal, refusal) in [(SIGUSR2, "phased restart refused"), (SIGHUP, "hot restart refused")] {
            let before = server.lines(atLeast: ["error"]).count
            kill(server.process.pid, signal)
            #expect(
                waitUntil(timeout: 10) { server.lines(atLeast: ["error"]).count > before }, "\(server.process.logTail)")
            let errors = server.lines(atLeast: ["error", "critical"]).dropFirst(before)
            #expect(errors.count == 1, "\(errors)")
            #expect(errors.first?.contains(refusal) == true, "\(errors)")
            #expect(errors.first?.contains(certificate) == true, "the line names the file: \(errors)")
            // Still served, by the same workers, with the certificate they loaded at start.
            let client = try server.connect(TLSClientOptions(caFile: certificates.caFile))
            #expect(client.tlsSession?.peerSubject == "/CN=localhost")
            client.close()
            #expect(server.events("worker started").count == started)
            #expect(server.events("hot restart: re-executing").isEmpty)
        }
    }

    // MARK: Bodies and slow clients

    @Test("pipelined requests and request bodies over TLS", arguments: tlsDispatchModes, TLSWritePath.allCases)
    func pipeliningAndBodies(threads: Int, writes: TLSWritePath) throws {
        let server = try TLSTestServer([], threads: threads, writes: writes)
        let client = try server.connect()
        defer { client.close() }
        let requests = (0..<50).map { Requests.get("/request?n=\($0)") }.joined()
        try client.send(requests)
        let responses = try client.readResponses(50)
        for (index, response) in responses.enumerated() {
            #expect(response.bodyText.contains("query=n=\(index)"))
        }
        let body = [UInt8]((0..<300_000).map { UInt8($0 % 251) })
        try client.send(
            Array("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        #expect(try client.readResponse().body == body)
    }

    @Test(
        "a kept-alive TLS connection idle past the tick that frees its record buffers is served again",
        arguments: tlsDispatchModes)
    func idleConnectionIsServedAgain(threads: Int) throws {
        let server = try TLSTestServer([], threads: threads)
        let client = try server.connect()
        defer { client.close() }
        try client.send(Requests.get("/"))
        #expect(try client.readResponse().bodyText == "Hello, World!")
        usleep(2_300_000)  // parked for more than a tick: the scenario
        try client.send(Requests.get("/request?n=again"))
        #expect(try client.readResponse().bodyText.contains("query=n=again"))
    }

    @Test(
        "a slow reader over TLS stalls no one, gets the whole body when it reads again, and meets the write timeout",
        arguments: tlsDispatchModes, TLSWritePath.allCases)
    func slowReader(threads: Int, writes: TLSWritePath) throws {
        let size = 8_000_000
        let server = try TLSTestServer(["--write-timeout", "2s"], threads: threads, writes: writes)
        func stalled() throws -> RawClient {
            let client = try server.connect(receiveBufferSize: 16 << 10)
            try client.send(Requests.get("/bytes?n=\(size)"))
            let head = try client.readHead()
            #expect(head.header("Content-Length") == String(size))
            return client
        }
        let first = try stalled()
        defer { first.close() }
        for index in 0..<3 {
            let (response, seconds) = try measureSeconds { try server.get("/request?n=\(index)") }
            #expect(response.bodyText.contains("query=n=\(index)"))
            #expect(seconds < 5, "another client waited behind the stalled one")
        }
        try first.discard(exactly: size, timeout: 30)
        try first.send(Requests.get("/"))
        #expect(try first.readResponse().bodyText == "Hello, World!")

        let second = try stalled()
        defer { second.close() }
        usleep(3_000_000)  // stalled past --write-timeout: that is the scenario
        let (bytes, closed) = second.drain(timeout: 15)
        #expect(closed, "the stalled connection was not closed")
        #expect(bytes < size, "the whole body was delivered: the write timeout never cut the connection")
    }

    @Test(
        "files over TLS: read into a buffer and written in records (no kernel TLS here), the head in the first",
        arguments: tlsDispatchModes, TLSWritePath.allCases)
    func staticFiles(threads: Int, writes: TLSWritePath) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("files-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let sizes = [0, 1, 100, 16_000, 16_384 + 100, 65_536, 65_536 * 3 + 17, 1 << 20]
        var contents: [Int: [UInt8]] = [:]
        for size in sizes {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ size) }
            contents[size] = bytes
            try Data(bytes).write(to: root.appendingPathComponent("f\(size).bin"))
        }
        let server = try TLSTestServer(
            [], threads: threads, writes: writes, binary: Binaries.raptorEV, leading: ["serve", root.path])
        let path = try #require(server.events("tls").first?["file_bodies"] as? String)
        #expect(path.hasPrefix("kernel TLS") || path.contains("no kernel TLS"), "\(path)")
        let client = try server.connect()
        defer { client.close() }
        for size in sizes {
            try client.send(Requests.get("/f\(size).bin"))
            let response = try client.readResponse(timeout: 20)
            #expect(response.status == 200)
            #expect(response.body == contents[size], "f\(size).bin: \(response.body.count) bytes")
            try client.send(Requests.head("/f\(size).bin"))
            let head = try client.readResponse(to: "HEAD")
            #expect(head.header("Content-Length") == String(size))
        }
        let curl = try ExternalClient.curl(
            [
                "-sS", "--cacert", certificates.caFile, "-o", root.path + "/copy",
                "https://localhost:\(server.port)/f\(1 << 20).bin",
            ],
            outputDirectory: server.directory)
        #expect(curl.succeeded, "\(curl)")
        #expect(FileManager.default.contents(atPath: root.path + "/copy") == Data(contents[1 << 20]!))
    }

    // MARK: Start-up

    @Test("what cannot serve TLS is a one-line error before anything binds (exit status 64)")
    func startupErrors() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "errors-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let garbage = directory.path + "/garbage.pem"
        try "not a certificate\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let encryptedKey = directory.path + "/encrypted.key"
        try TestCertificates.openssl(
            ["ec", "-in", certificates.localhost.key, "-aes256", "-passout", "pass:secret", "-out", encryptedKey],
            in: directory.path)
        let local = certificates.localhost, named = certificates.named
        let bind = ["--bind", "ssl://127.0.0.1:0"]
        let served = bind + ["--tls-cert", local.certificate, "--tls-key", local.key]
        let cases: [([String], String)] = [
            (bind, "needs a certificate"),
            (["--tls-cert", local.certificate, "--tls-key", local.key], "no ssl:// address"),
            (bind + ["--tls-cert", local.certificate], "has no key"),
            (served + ["--tls-key", local.key], "has no certificate"),
            (bind + ["--tls-cert", directory.path + "/missing.pem", "--tls-key", local.key], "No such file"),
            (bind + ["--tls-cert", garbage, "--tls-key", local.key], garbage),
            (bind + ["--tls-cert", local.certificate, "--tls-key", named.key], "does not belong"),
            (bind + ["--tls-cert", local.certificate, "--tls-key", encryptedKey], "encrypted"),
            (["--bind", "ssl://127.0.0.1:0?cert=\(local.certificate)&kex=1"], "unknown option 'kex'"),
            (served + ["--tls-verify", "required"], "needs --tls-client-ca"),
            (served + ["--tls-ciphers", "NOPE"], "--tls-ciphers"),
            (served + ["--tls-min-version", "1.1"], "--tls-min-version"),
            (served + ["--tls-ticket-rotation", "200h"], "--tls-ticket-rotation"),
        ]
        for (flags, expected) in cases {
            let result = try ExternalClient.run(
                Binaries.testApp, flags + ["--workers", "0", "--log-format", "json"], timeout: 20,
                outputDirectory: directory)
            #expect(result.status == .exited(64), "\(flags): \(result)")
            // One line; ArgumentParser adds a pointer to --help after a value it rejects itself.
            let lines = result.standardError.split(separator: "\n")
            #expect(lines.count == 1 || (lines.count == 2 && lines[1].hasPrefix("See ")), "\(flags): \(result)")
            #expect(lines.first?.contains(expected) == true, "\(flags): \(result)")
            #expect(!result.standardError.contains("listening"), "\(flags): bound before failing")
        }
    }
}
