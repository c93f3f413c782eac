import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The client's address behind a load balancer: PROXY protocol v1 and v2 on a bind
/// (`?proxy_protocol=`), X-Forwarded-For and Forwarded, all believed only from
/// `--trusted-proxies`; the address reaches the handler and the access log.
@Suite(.exclusive) final class ClientAddressTests: ClusterSuite {
    static let request = Array("GET /request HTTP/1.1\r\nHost: x\r\n\r\n".utf8)

    static func v1(_ source: String, port: Int = 4711) -> [UInt8] {
        Array("PROXY TCP4 \(source) 127.0.0.1 \(port) 80\r\n".utf8)
    }

    /// A version 2 header from an IPv4 source (command 1 = PROXY, 0 = LOCAL).
    static func v2(_ source: [UInt8], port: UInt16 = 4711, command: UInt8 = 1) -> [UInt8] {
        [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20 | command, 0x11, 0, 12]
            + source + [127, 0, 0, 1] + [UInt8(port >> 8), UInt8(port & 0xFF), 0, 80]
    }

    /// The `remote=` the test app's /request route saw.
    private func remote(_ response: HTTPResponseMessage) -> String? {
        response.bodyText.split(separator: " ").first { $0.hasPrefix("remote=") }.map { String($0.dropFirst(7)) }
    }

    private func startBehindProxy(_ mode: String, trusted: String = "127.0.0.1", _ extra: [String] = []) throws
        -> ServerProcess
    {
        try startCluster(
            [
                "-w", "1", "--bind", "tcp://127.0.0.1:0?proxy_protocol=\(mode)", "--trusted-proxies", trusted,
                "--access-log",
            ]
                + extra)
    }

    /// Sends `bytes` (in pieces of `piece` bytes, a pause between them) and reads one
    /// response.
    private func exchange(_ port: UInt16, _ bytes: [UInt8], piece: Int? = nil) throws -> HTTPResponseMessage {
        let client = try RawClient(port: port)
        defer { client.close() }
        let size = piece ?? bytes.count
        for start in stride(from: 0, to: bytes.count, by: size) {
            try client.send(Array(bytes[start..<min(bytes.count, start + size)]))
            if piece != nil { usleep(20_000) }
        }
        return try client.readResponse()
    }

    /// The connection is closed without an answer.
    private func assertClosedUnanswered(
        _ port: UInt16, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let client = try RawClient(port: port)
        defer { client.close() }
        try? client.send(bytes)
        let (closed, data) = client.waitForClose(timeout: 5)
        #expect(closed, "still open", sourceLocation: sourceLocation)
        #expect(data == [], "answered: \(String(decoding: data, as: UTF8.self))", sourceLocation: sourceLocation)
    }

    @Test func aProxyV2HeaderCarriesTheClientAddressToTheHandlerAndTheAccessLog() throws {
        let server = try startBehindProxy("v2", ["--metrics-bind", "tcp://127.0.0.1:0"])
        waitForRunningWorkers(1)
        let client = try RawClient(port: server.port)
        try client.send(Self.v2([203, 0, 113, 9]) + Self.request)
        #expect(remote(try client.readResponse()) == "203.0.113.9")
        // The next request on the connection is the same client's.
        try client.send(Self.request)
        #expect(remote(try client.readResponse()) == "203.0.113.9")
        client.close()
        #expect(waitUntil(timeout: 5) { server.standardOutput.contains("\"remote_addr\":\"203.0.113.9\"") })
        #expect(!server.standardOutput.contains("\"remote_addr\":\"127.0.0.1\""), "\(server.standardOutput)")
        #expect((events(server, "listening").first?["proxy_protocol"] as? String) == "v2")
    }

    @Test func aProxyV1HeaderArrivingInPiecesIsRead() throws {
        let server = try startBehindProxy("v1")
        waitForRunningWorkers(1)
        #expect(remote(try exchange(server.port, Self.v1("198.51.100.23") + Self.request, piece: 5)) == "198.51.100.23")
        // A v1 header over IPv6 names an IPv6 client.
        let six = Array("PROXY TCP6 2001:db8::5 ::1 4711 80\r\n".utf8) + Self.request
        #expect(remote(try exchange(server.port, six)) == "2001:db8::5")
    }

    /// LOCAL (the balancer's own health check) and UNKNOWN keep the connection's address.
    @Test func localAndUnknownKeepTheConnectionsAddress() throws {
        let v2 = try startBehindProxy("v2")
        let v1 = try startBehindProxy("v1")
        waitForEvents(v1, "all workers booted")
        waitForEvents(v2, "all workers booted")
        #expect(remote(try exchange(v2.port, Self.v2([203, 0, 113, 9], command: 0) + Self.request)) == "127.0.0.1")
        #expect(remote(try exchange(v1.port, Array("PROXY UNKNOWN\r\n".utf8) + Self.request)) == "127.0.0.1")
    }

    /// From a peer outside --trusted-proxies a PROXY-only bind closes the connection (the
    /// header would let anyone choose their address), as it does a malformed header or
    /// none; each is counted.
    @Test func untrustedMalformedOrMissingHeadersCloseTheConnection() throws {
        let untrusted = try startBehindProxy("v2", trusted: "10.0.0.0/8", ["--metrics-bind", "tcp://127.0.0.1:0"])
        let trusted = try startBehindProxy("v2", ["--metrics-bind", "tcp://127.0.0.1:0"])
        let untrustedMetrics = metricsPort(untrusted)
        let trustedMetrics = metricsPort(trusted)
        waitForEvents(untrusted, "all workers booted")
        waitForEvents(trusted, "all workers booted")

        try assertClosedUnanswered(untrusted.port, Self.v2([203, 0, 113, 9]) + Self.request)
        try assertClosedUnanswered(trusted.port, Self.request)  // no header
        try assertClosedUnanswered(trusted.port, Self.v1("203.0.113.9") + Self.request)  // the wrong version
        var malformed = Self.v2([203, 0, 113, 9])
        malformed[13] = 0x41  // family 4
        try assertClosedUnanswered(trusted.port, malformed + Self.request)
        #expect(remote(try exchange(trusted.port, Self.v2([203, 0, 113, 9]) + Self.request)) == "203.0.113.9")

        waitForMetrics(untrustedMetrics, "one refused connection") {
            $0.value("raptor_cluster_proxy_errors_total") == 1
        }
        waitForMetrics(trustedMetrics, "three refused connections") {
            $0.value("raptor_cluster_proxy_errors_total") == 3
        }
    }

    /// `optional`: a header from a trusted peer is read, a connection without one is
    /// served as it comes, and an untrusted peer that sends one is closed.
    @Test func optionalAcceptsAHeaderOrNone() throws {
        let trusted = try startBehindProxy("optional")
        let untrusted = try startBehindProxy("optional", trusted: "10.0.0.0/8")
        waitForEvents(trusted, "all workers booted")
        waitForEvents(untrusted, "all workers booted")
        #expect(remote(try exchange(trusted.port, Self.v1("198.51.100.23") + Self.request)) == "198.51.100.23")
        #expect(remote(try exchange(trusted.port, Self.v2([198, 51, 100, 24]) + Self.request)) == "198.51.100.24")
        #expect(remote(try exchange(trusted.port, Self.request)) == "127.0.0.1")
        #expect(remote(try exchange(untrusted.port, Self.request)) == "127.0.0.1")
        try assertClosedUnanswered(untrusted.port, Self.v1("198.51.100.23") + Self.request)
    }

    /// One process (--single) reads headers too: the engine does it, not the master.
    @Test func aSingleProcessReadsProxyHeaders() throws {
        let server = try startBehindProxy("v2", ["-w", "0"])
        #expect(remote(try exchange(server.port, Self.v2([192, 0, 2, 44]) + Self.request)) == "192.0.2.44")
    }

    @Test func forwardedFieldsAreBelievedOnlyFromTrustedProxies() throws {
        let trusted = try startCluster(["-w", "1", "--trusted-proxies", "127.0.0.1,10.0.0.0/8", "--access-log"])
        let untrusted = try startCluster(["-w", "1", "--trusted-proxies", "10.0.0.0/8", "--access-log"])
        let forwarded = try startCluster(
            ["-w", "1", "--trusted-proxies", "127.0.0.0/8", "--forwarded-header", "forwarded"])
        for server in [trusted, untrusted, forwarded] { waitForEvents(server, "all workers booted") }
        func request(_ fields: String) -> [UInt8] { Array("GET /request HTTP/1.1\r\nHost: x\r\n\(fields)\r\n".utf8) }

        // The rightmost hop not a trusted proxy: the client's own first entry is ignored.
        let chain = request("X-Forwarded-For: 6.6.6.6, 198.51.100.7\r\nX-Forwarded-For: 10.1.1.1\r\n")
        #expect(remote(try exchange(trusted.port, chain)) == "198.51.100.7")
        #expect(waitUntil(timeout: 5) { trusted.standardOutput.contains("\"remote_addr\":\"198.51.100.7\"") })
        #expect(remote(try exchange(untrusted.port, chain)) == "127.0.0.1")
        // With --forwarded-header forwarded, X-Forwarded-For is the client's and ignored.
        let both = request("Forwarded: for=\"[2001:db8::7]:4711\";proto=http\r\nX-Forwarded-For: 198.51.100.9\r\n")
        #expect(remote(try exchange(forwarded.port, both)) == "2001:db8::7")
        #expect(remote(try exchange(trusted.port, both)) == "198.51.100.9")
    }

    /// A PROXY header naming a trusted proxy, then that proxy's X-Forwarded-For: a chain.
    @Test func aProxyHeaderThenForwardedFieldsFromTheSameChain() throws {
        let server = try startBehindProxy("v2", trusted: "127.0.0.1,10.0.0.0/8")
        waitForRunningWorkers(1)
        let bytes =
            Self.v2([10, 9, 9, 9])
            + Array("GET /request HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.77\r\n\r\n".utf8)
        #expect(remote(try exchange(server.port, bytes)) == "198.51.100.77")
    }

    @Test func proxyProtocolNeedsTrustedProxies() throws {
        let result = try ExternalClient.run(
            Binaries.raptorEV, ["serve", "--bind", "tcp://127.0.0.1:0?proxy_protocol=v2", "--check-config"],
            timeout: 20, outputDirectory: directory)
        #expect(result.status == .exited(64))
        #expect(
            result.standardError
                == "Error: --bind: 'tcp://127.0.0.1:0?proxy_protocol=v2': proxy_protocol needs --trusted-proxies (the load balancers' addresses)\n"
        )
        let unknown = try ExternalClient.run(
            Binaries.raptorEV, ["serve", "--bind", "tcp://127.0.0.1:0?proxy=v2", "--check-config"], timeout: 20,
            outputDirectory: directory)
        #expect(unknown.status == .exited(64))
        #expect(
            unknown.standardError.contains("unknown option 'proxy' (known: proxy_protocol, cert, key)"), "\(unknown)")
    }
}
