import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// HTTP/2: h2 over TLS (ALPN) and h2c with prior knowledge, every handler unchanged, in both
/// dispatches; real clients (curl, nghttp, h2load) and Python's h2 for what they cannot do
/// (a stream refused while the connection goes on, a small window, a body without
/// content-length, GOAWAY while streams are in flight).
@Suite(.concurrent) final class HTTP2Tests: ServerSuite {
    /// curl's way into HTTP/2 for the transport: ALPN over TLS, prior knowledge in the clear.
    private func curlH2(_ mode: ServerMode) -> [String] {
        mode.transport == .tls ? ["--http2"] : ["--http2-prior-knowledge"]
    }

    /// One server per mode, many checks: the Request the handler sees, bodies with and without
    /// content-length, trailers, HEAD, many concurrent streams each answered with its own
    /// response, the access log and the stats.
    @Test(arguments: ServerMode.all)
    func handlersAnswerOverHTTP2(_ mode: ServerMode) throws {
        let stats = workDirectory.appendingPathComponent("stats.json").path
        let server = try startTestApp(
            mode,
            ["--max-body-size", "64k", "--max-header-size", "4k", "--access-log"]
                + (mode.dispatch == .pool ? ["--stats-file", stats] : []))
        let request = try curl(server, "/request?x=1", curlH2(mode) + ["-sS", "-w", "|%{http_version}"])
        #expect(request.succeeded, "\(request)")
        #expect(
            request.standardOutput.contains("method=GET target=/request?x=1 path=/request query=x=1 version=HTTP/2.0"))
        #expect(request.standardOutput.contains("authority=127.0.0.1:\(server.port)"), "Host from :authority")
        #expect(request.standardOutput.hasSuffix("|2"), "\(request)")

        let echoed = try curl(server, "/echo", curlH2(mode) + ["-sS", "--data-binary", "hello over h2"])
        #expect(echoed.standardOutput == "hello over h2", "\(echoed)")

        let head = try curl(server, "/bytes?n=5000", curlH2(mode) + ["-sS", "-I"])
        #expect(head.standardOutput.contains("content-length: 5000"), "HEAD says GET's length: \(head)")

        // 40 streams on one connection at once, each its own body length.
        let lengths = (0..<40).map { 1000 + $0 * 37 }
        var arguments = ["-n", "-v"] + (mode.transport == .tls ? ["--no-verify-peer"] : [])
        arguments += lengths.map { server.url("/bytes?n=\($0)") }
        let nghttp = try ExternalClient.run("nghttp", arguments, timeout: 20, outputDirectory: workDirectory)
        #expect(nghttp.succeeded, "\(nghttp)")
        let seen = nghttp.standardOutput.split(separator: "\n").compactMap { line -> Int? in
            guard line.contains("recv (stream_id="), let range = line.range(of: "content-length: ") else { return nil }
            return Int(line[range.upperBound...])
        }
        #expect(seen.sorted() == lengths, "each stream got its own response: \(seen.sorted())")

        // Raw frames: a body without content-length, a refused stream (413 before the body,
        // 413 by its DATA, 431) while the connection goes on, a small client window.
        let script = """
            \(Self.h2Client)
            client = Client(sys.argv[1], sys.argv[2])
            results = {}
            s1 = client.send("POST", "/body-info", body=b"x" * 3000)   # no content-length
            s2 = client.send("POST", "/echo", [("content-length", "100000")], end=False)
            s3 = client.send("POST", "/echo", body=b"y" * 70000)
            s4 = client.send("GET", "/", [("x-big", "z" * 5000)])
            s5 = client.send("GET", "/request?after=1")
            s6 = client.send("POST", "/trailers", body=b"with trailers", end=False)
            client.send_trailers(s6, [("x-checksum", "42")])
            got = client.collect([s1, s2, s3, s4, s5, s6])
            print(json.dumps({str(k): v for k, v in got.items()}))
            """
        let frames = try python(server, script, arguments: [server.transport.caFile ?? ""], timeout: 20)
        #expect(frames.succeeded, "\(frames)")
        let answers = try Self.decode(frames.standardOutput)
        #expect(answers["1"]?.body == "length=3000 memory=true sum=360000\n", "\(frames)")
        #expect(answers["3"]?.status == 413, "content-length over the limit: \(frames)")
        #expect(answers["5"]?.status == 413, "DATA over the limit: \(frames)")
        #expect(answers["7"]?.status == 431, "\(frames)")
        #expect(answers["9"]?.status == 200, "the connection goes on: \(frames)")
        #expect(answers["9"]?.body.contains("version=HTTP/2.0") == true, "\(frames)")
        #expect(answers["11"]?.body == "body=with trailers\nx-checksum: 42\n", "request trailers: \(frames)")

        #expect(
            waitUntil(timeout: 5) { server.standardOutput.contains("\"http_version\":\"HTTP/2.0\"") },
            "the access log says HTTP/2.0: \(server.standardOutput.suffix(600))")
        if mode.dispatch == .pool {
            // 5 connections (curl 3 times, nghttp, the raw client); streams: each request.
            func total(_ name: String) -> Int {
                let data = FileManager.default.contents(atPath: stats) ?? Data()
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
                return (object?["totals"] as? [String: Any])?[name] as? Int ?? 0
            }
            #expect(waitUntil(timeout: 5) { total("h2_connections") >= 5 }, "\(total("h2_connections"))")
            #expect(waitUntil(timeout: 5) { total("h2_streams") >= 48 }, "\(total("h2_streams"))")
        }

        let window = """
            \(Self.h2Client)
            client = Client(sys.argv[1], sys.argv[2], window=1024)
            s = client.send("GET", "/bytes?n=300000")
            got = client.collect([s])
            print(json.dumps({"length": len(got[s]["body"]), "status": got[s]["status"]}))
            """
        let small = try python(server, window, arguments: [server.transport.caFile ?? ""], timeout: 20)
        #expect(small.standardOutput.contains("\"length\": 300000, \"status\": 200"), "\(small)")
    }

    /// The static files handler over h2: bytes, a range, a conditional request.
    @Test(arguments: ServerMode.all)
    func staticFilesOverHTTP2(_ mode: ServerMode) throws {
        let site = workDirectory.appendingPathComponent("site")
        try FileManager.default.createDirectory(at: site, withIntermediateDirectories: true)
        let content = String(repeating: "0123456789", count: 20000)
        try content.write(to: site.appendingPathComponent("big.txt"), atomically: true, encoding: .utf8)
        let server = try startStaticServer(mode, directory: site.path)
        let whole = try curl(server, "/big.txt", curlH2(mode) + ["-sS", "-w", "|%{http_version}"])
        #expect(whole.standardOutput == content + "|2", "\(whole.standardOutput.suffix(40))")
        let range = try curl(server, "/big.txt", curlH2(mode) + ["-sS", "-r", "10-19", "-w", "|%{http_code}"])
        #expect(range.standardOutput == "0123456789|206", "\(range)")
    }

    /// ALPN picks h2 when the client offers it and http/1.1 otherwise; `--http2 off` offers
    /// only http/1.1 and sends the h2c preface to the HTTP/1.1 parser.
    @Test(arguments: ServerMode.Dispatch.allCases)
    func protocolSelection(_ dispatch: ServerMode.Dispatch) throws {
        let tls = try startTestApp(ServerMode(dispatch, .tls))
        let both = try curl(tls, "/tls", ["-sS", "--http2"])
        #expect(both.standardOutput.contains("alpn=h2"), "\(both)")
        let one = try curl(tls, "/tls", ["-sS", "--http1.1"])
        #expect(one.standardOutput.contains("alpn=http/1.1"), "\(one)")

        let plain = try startTestApp(ServerMode(dispatch, .tcp))
        // RFC 9113 deprecates Upgrade: h2c: such a request is answered as HTTP/1.1.
        let upgrade = try curl(plain, "/request", ["-sS", "--http2", "-w", "|%{http_version}"])
        #expect(
            upgrade.standardOutput.hasSuffix(
                "version=HTTP/1.1 remote=127.0.0.1 authority=127.0.0.1:\(plain.port)\n|1.1"), "\(upgrade)")

        let off = try startTestApp(ServerMode(dispatch, .tls), ["--http2", "off"])
        let offered = try curl(off, "/tls", ["-sS", "--http2"])
        #expect(offered.standardOutput.contains("alpn=http/1.1"), "\(offered)")
        let plainOff = try startTestApp(ServerMode(dispatch, .tcp), ["--http2", "off"])
        let prior = try curl(plainOff, "/", ["-sS", "--http2-prior-knowledge"], timeout: 3)
        #expect(!prior.succeeded, "a preface is not HTTP/1.1: \(prior)")
        let http1 = try curl(plainOff, "/", ["-sS"])
        #expect(http1.standardOutput == "Hello, World!", "\(http1)")
    }

    /// A PROXY header, then HTTP/2 (the preface after it on tcp://, the TLS handshake and ALPN
    /// on ssl://): every stream's client is the one the header names.
    @Test(arguments: ServerMode.all)
    func proxyHeaderThenHTTP2(_ mode: ServerMode) throws {
        let server = try startTestApp(
            mode,
            [
                "--bind", "\(mode.transport.bindScheme)://127.0.0.1:0?proxy_protocol=v1", "--trusted-proxies",
                "127.0.0.1",
            ]
                + (try mode.transport.serverFlags(directory: workDirectory)).dropFirst(2))
        let script = """
            \(Self.h2Client)
            client = Client(sys.argv[1], sys.argv[2], before=b"PROXY TCP4 203.0.113.7 127.0.0.1 51234 80\\r\\n")
            ids = [client.send("GET", "/request?n=%d" % n) for n in range(3)]
            got = client.collect(ids)
            print("|".join(got[i]["body"] for i in ids))
            """
        let run = try python(server, script, arguments: [server.transport.caFile ?? ""])
        #expect(run.succeeded, "\(run)")
        #expect(run.standardOutput.components(separatedBy: "remote=203.0.113.7 ").count == 4, "\(run)")
        #expect(run.standardOutput.contains("version=HTTP/2.0"), "\(run)")
    }

    /// Bad values of the HTTP/2 flags: a one-line error naming the flag, nothing listens.
    @Test(arguments: [
        ("--http2", "maybe"), ("--h2-max-concurrent-streams", "0"), ("--h2-initial-window-size", "2g"),
        ("--h2-max-frame-size", "1k"), ("--h2-max-frame-size", "16m"), ("--h2-connection-window", "1k"),
    ])
    func badHTTP2FlagValuesFail(_ flag: String, _ value: String) throws {
        let port = try freePort()
        try expectCommandLineError(
            ["--bind", "tcp://127.0.0.1:\(port)", "--workers", "0", flag, value], mentioning: flag)
        expectNothingListens(on: port)
    }

    static func decode(_ output: String) throws -> [String: (status: Int, body: String)] {
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [String: Any]] ?? [:]
        return object.mapValues { ($0["status"] as? Int ?? 0, $0["body"] as? String ?? "") }
    }

    /// Python: `Client(url, cafile, window=None, before=b"")` of `Tests/Clients/h2_client.py`
    /// (Python's h2 package): `send(...)` returns the stream id, `collect(ids)` each stream's
    /// status, body and reset, and the GOAWAYs that came.
    static let h2Client = """
        import json, sys
        sys.path.insert(0, "\(HTTP2Clients.directory.path)")
        from h2_client import Client
        """
}
