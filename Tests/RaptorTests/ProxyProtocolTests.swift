import CRaptor
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import Raptor

/// The PROXY protocol header parser (proxy.c), from HAProxy's proxy-protocol.txt. Every
/// case is fed whole and cut at every position: the answer depends only on the bytes
/// received, never on how the reads split them.
@Suite struct ProxyProtocolTests {
    /// What a whole input must give.
    enum Expected: Sendable, CustomStringConvertible {
        /// A header of `length` bytes carrying `source` ("address port"), or nil for the
        /// connection's own address (LOCAL, UNKNOWN, no IP family).
        case header(length: Int, source: String?)
        case absent
        case invalid

        var description: String {
            switch self {
            case .header(let length, let source): "header(\(length), \(source ?? "local"))"
            case .absent: "absent"
            case .invalid: "invalid"
            }
        }
    }

    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var mode: rv_proxy_mode
        var bytes: [UInt8]
        var expected: Expected
        var description: String { name }
    }

    static let request = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)

    static func v1(_ line: String) -> [UInt8] {
        Array(line.utf8) + request
    }

    /// A version 2 header: command (0 LOCAL, 1 PROXY), family and protocol byte, the
    /// address block (and TLVs).
    static func v2(command: UInt8 = 1, familyProtocol: UInt8, block: [UInt8], version: UInt8 = 2) -> [UInt8] {
        let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
        return signature + [version << 4 | command, familyProtocol, UInt8(block.count >> 8), UInt8(block.count & 0xFF)]
            + block
    }

    static let inet: [UInt8] = [192, 0, 2, 1, 198, 51, 100, 2, 0xC8, 0x22, 0x01, 0xBB]  // 51234 -> 443
    static let inet6: [UInt8] =
        [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1] + [0x20, 0x01, 0x0d, 0xb8]
        + Array(repeating: 0, count: 11) + [2] + [0x00, 0x50, 0x01, 0xBB]  // port 80

    static let cases: [Case] = [
        Case(
            name: "v1 TCP4", mode: RV_PROXY_V1, bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 51234 443\r\n"),
            expected: .header(length: 45, source: "192.0.2.1 51234")),
        Case(
            name: "v1 TCP6", mode: RV_PROXY_V1, bytes: v1("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n"),
            expected: .header(length: 44, source: "2001:db8::1 1")),
        Case(
            name: "v1 UNKNOWN", mode: RV_PROXY_V1, bytes: v1("PROXY UNKNOWN\r\n"),
            expected: .header(length: 15, source: nil)),
        Case(
            name: "v1 UNKNOWN with addresses", mode: RV_PROXY_V1, bytes: v1("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"),
            expected: .header(length: 35, source: nil)),
        Case(
            name: "v1 of 107 bytes", mode: RV_PROXY_V1,
            bytes: v1("PROXY UNKNOWN " + String(repeating: "x", count: 91) + "\r\n"),
            expected: .header(length: 107, source: nil)),
        Case(
            name: "v1 of 108 bytes", mode: RV_PROXY_V1,
            bytes: v1("PROXY UNKNOWN " + String(repeating: "x", count: 92) + "\r\n"), expected: .invalid),
        Case(
            name: "v1 bare LF", mode: RV_PROXY_V1, bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n"),
            expected: .invalid),
        Case(
            name: "v1 CR alone", mode: RV_PROXY_V1, bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 1 2\rX\n"),
            expected: .invalid),
        Case(
            name: "v1 two spaces", mode: RV_PROXY_V1, bytes: v1("PROXY  TCP4 192.0.2.1 198.51.100.2 1 2\r\n"),
            expected: .invalid),
        Case(
            name: "v1 trailing space", mode: RV_PROXY_V1, bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n"),
            expected: .invalid),
        Case(
            name: "v1 extra field", mode: RV_PROXY_V1, bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n"),
            expected: .invalid),
        Case(
            name: "v1 missing port", mode: RV_PROXY_V1, bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n"),
            expected: .invalid),
        Case(
            name: "v1 bad address", mode: RV_PROXY_V1, bytes: v1("PROXY TCP4 192.0.2 198.51.100.2 1 2\r\n"),
            expected: .invalid),
        Case(
            name: "v1 IPv6 as TCP4", mode: RV_PROXY_V1, bytes: v1("PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n"),
            expected: .invalid),
        Case(
            name: "v1 port 65536", mode: RV_PROXY_V1, bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n"),
            expected: .invalid),
        Case(
            name: "v1 port leading zero", mode: RV_PROXY_V1, bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 01 2\r\n"),
            expected: .invalid),
        Case(
            name: "v1 unknown protocol", mode: RV_PROXY_V1, bytes: v1("PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n"),
            expected: .invalid),
        Case(
            name: "v1 lower case", mode: RV_PROXY_V1, bytes: v1("proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n"),
            expected: .invalid),
        Case(name: "v1 missing", mode: RV_PROXY_V1, bytes: request, expected: .invalid),
        Case(
            name: "v2 where v1 is expected", mode: RV_PROXY_V1, bytes: v2(familyProtocol: 0x11, block: inet) + request,
            expected: .invalid),

        Case(
            name: "v2 PROXY TCP4", mode: RV_PROXY_V2, bytes: v2(familyProtocol: 0x11, block: inet) + request,
            expected: .header(length: 28, source: "192.0.2.1 51234")),
        Case(
            name: "v2 PROXY TCP6", mode: RV_PROXY_V2, bytes: v2(familyProtocol: 0x21, block: inet6) + request,
            expected: .header(length: 52, source: "2001:db8::1 80")),
        Case(
            name: "v2 PROXY TCP4 with TLVs", mode: RV_PROXY_V2,
            bytes: v2(familyProtocol: 0x11, block: inet + [0x05, 0x00, 0x03, 0x61, 0x62, 0x63]) + request,
            expected: .header(length: 34, source: "192.0.2.1 51234")),
        Case(
            name: "v2 LOCAL", mode: RV_PROXY_V2, bytes: v2(command: 0, familyProtocol: 0x00, block: []) + request,
            expected: .header(length: 16, source: nil)),
        Case(
            name: "v2 LOCAL with addresses", mode: RV_PROXY_V2,
            bytes: v2(command: 0, familyProtocol: 0x11, block: inet),
            expected: .header(length: 28, source: nil)),
        Case(
            name: "v2 PROXY UNSPEC", mode: RV_PROXY_V2, bytes: v2(familyProtocol: 0x00, block: []),
            expected: .header(length: 16, source: nil)),
        Case(
            name: "v2 PROXY UNIX", mode: RV_PROXY_V2,
            bytes: v2(familyProtocol: 0x31, block: Array(repeating: 0, count: 216)),
            expected: .header(length: 232, source: nil)),
        Case(
            name: "v2 version 1", mode: RV_PROXY_V2, bytes: v2(familyProtocol: 0x11, block: inet, version: 1),
            expected: .invalid),
        Case(
            name: "v2 command 2", mode: RV_PROXY_V2, bytes: v2(command: 2, familyProtocol: 0x11, block: inet),
            expected: .invalid),
        Case(name: "v2 family 4", mode: RV_PROXY_V2, bytes: v2(familyProtocol: 0x41, block: inet), expected: .invalid),
        Case(
            name: "v2 protocol 3", mode: RV_PROXY_V2, bytes: v2(familyProtocol: 0x13, block: inet), expected: .invalid),
        Case(
            name: "v2 PROXY over UDP", mode: RV_PROXY_V2, bytes: v2(familyProtocol: 0x12, block: inet),
            expected: .invalid),
        Case(
            name: "v2 short IPv4 block", mode: RV_PROXY_V2,
            bytes: v2(familyProtocol: 0x11, block: Array(inet.prefix(8))), expected: .invalid),
        Case(
            name: "v2 short IPv6 block", mode: RV_PROXY_V2, bytes: v2(familyProtocol: 0x21, block: inet),
            expected: .invalid),
        Case(
            name: "v2 short UNIX block", mode: RV_PROXY_V2, bytes: v2(familyProtocol: 0x31, block: inet),
            expected: .invalid),
        Case(
            name: "v2 over the length limit", mode: RV_PROXY_V2,
            bytes: v2(familyProtocol: 0x11, block: inet + Array(repeating: 0, count: 4070)),
            expected: .invalid),
        Case(
            name: "v2 at the length limit", mode: RV_PROXY_V2,
            bytes: v2(familyProtocol: 0x11, block: inet + Array(repeating: 0, count: 4068)),
            expected: .header(length: 4096, source: "192.0.2.1 51234")),
        Case(name: "v2 missing", mode: RV_PROXY_V2, bytes: request, expected: .invalid),
        Case(
            name: "v2 signature cut short", mode: RV_PROXY_V2, bytes: Array("\r\n\r\nGET / HTTP/1.1\r\n\r\n".utf8),
            expected: .invalid),
        Case(name: "v1 where v2 is expected", mode: RV_PROXY_V2, bytes: v1("PROXY UNKNOWN\r\n"), expected: .invalid),

        Case(
            name: "optional, v1", mode: RV_PROXY_OPTIONAL, bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 51234 443\r\n"),
            expected: .header(length: 45, source: "192.0.2.1 51234")),
        Case(
            name: "optional, v2", mode: RV_PROXY_OPTIONAL, bytes: v2(familyProtocol: 0x11, block: inet) + request,
            expected: .header(length: 28, source: "192.0.2.1 51234")),
        Case(name: "optional, none", mode: RV_PROXY_OPTIONAL, bytes: request, expected: .absent),
        Case(
            name: "optional, empty lines then a request", mode: RV_PROXY_OPTIONAL,
            bytes: Array("\r\n\r\nGET / HTTP/1.1\r\n\r\n".utf8), expected: .absent),
        Case(
            name: "optional, malformed v1", mode: RV_PROXY_OPTIONAL, bytes: v1("PROXY TCP4 x y 1 2\r\n"),
            expected: .invalid),
        Case(name: "off", mode: RV_PROXY_OFF, bytes: v1("PROXY UNKNOWN\r\n"), expected: .absent),
    ]

    private func parse(_ mode: rv_proxy_mode, _ bytes: ArraySlice<UInt8>) -> (rv_proxy_result, rv_proxy_header) {
        var header = rv_proxy_header()
        let result = Array(bytes).withUnsafeBufferPointer { rv_proxy_parse(mode, $0.baseAddress, $0.count, &header) }
        return (result, header)
    }

    private func source(_ header: rv_proxy_header) -> String? {
        guard header.local == 0 else { return nil }
        let host = SocketAddress.numericHost(header.source, length: header.source_length) ?? "?"
        return "\(host) \(SocketAddress.port(header.source))"
    }

    @Test(arguments: cases)
    func wholeAndSplitAtEveryPosition(_ testCase: Case) {
        let whole = parse(testCase.mode, testCase.bytes[...])
        switch testCase.expected {
        case .header(let length, let expectedSource):
            #expect(whole.0 == RV_PROXY_HEADER, "\(testCase.name): \(whole.0)")
            #expect(Int(whole.1.length) == length, "\(testCase.name)")
            #expect(source(whole.1) == expectedSource, "\(testCase.name)")
            // Every cut shorter than the header asks for more; every longer one finds it.
            for cut in 0..<testCase.bytes.count {
                let (result, header) = parse(testCase.mode, testCase.bytes[..<cut])
                if cut < length {
                    #expect(result == RV_PROXY_MORE, "\(testCase.name) cut at \(cut): \(result)")
                } else {
                    #expect(result == RV_PROXY_HEADER && Int(header.length) == length, "\(testCase.name) cut at \(cut)")
                    #expect(source(header) == expectedSource, "\(testCase.name) cut at \(cut)")
                }
            }
        case .absent, .invalid:
            let final: rv_proxy_result =
                if case .absent = testCase.expected { RV_PROXY_ABSENT } else { RV_PROXY_INVALID }
            #expect(whole.0 == final, "\(testCase.name): \(whole.0)")
            // Undecided (more) until the answer, then the same answer for every longer cut.
            var decided = false
            for cut in 0...testCase.bytes.count {
                let (result, _) = parse(testCase.mode, testCase.bytes[..<cut])
                if decided {
                    #expect(result == final, "\(testCase.name) cut at \(cut): \(result) after \(final)")
                } else if result != RV_PROXY_MORE {
                    #expect(result == final, "\(testCase.name) cut at \(cut): \(result)")
                    decided = true
                }
            }
        }
    }

    /// A byte that cannot start a header is refused at once, without waiting for more.
    @Test func aWrongFirstByteIsRefusedAtOnce() {
        #expect(parse(RV_PROXY_V1, Array("G".utf8)[...]).0 == RV_PROXY_INVALID)
        #expect(parse(RV_PROXY_V2, Array("G".utf8)[...]).0 == RV_PROXY_INVALID)
        #expect(parse(RV_PROXY_OPTIONAL, Array("G".utf8)[...]).0 == RV_PROXY_ABSENT)
        #expect(parse(RV_PROXY_V2, Self.v2(familyProtocol: 0x11, block: Self.inet).prefix(13)).0 == RV_PROXY_MORE)
        #expect(parse(RV_PROXY_V2, Self.v2(familyProtocol: 0x41, block: Self.inet).prefix(14)).0 == RV_PROXY_INVALID)
    }
}

@Suite struct TrustedProxiesTests {
    private func address(_ text: String) -> sockaddr_storage {
        ForwardedClient.parse(Substring(text))!.storage
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.255.1.2", true), ("10.0.0.0/8", "11.0.0.1", false), ("192.0.2.7", "192.0.2.7", true),
        ("192.0.2.7", "192.0.2.8", false), ("192.0.2.0/25", "192.0.2.127", true),
        ("192.0.2.0/25", "192.0.2.128", false),
        ("2001:db8::/32", "2001:db8:ffff::1", true), ("2001:db8::/32", "2001:db9::1", false),
        ("10.0.0.0/8", "::ffff:10.1.2.3", true), ("0.0.0.0/0", "203.0.113.9", true),
        ("0.0.0.0/0", "2001:db8::1", false),
        ("::/0", "2001:db8::1", true), ("10.1.2.3/8", "10.9.9.9", true),
    ])
    func blocks(entry: String, address text: String, contained: Bool) throws {
        #expect(try TrustedProxies([entry]).contains(address(text)) == contained)
    }

    @Test(arguments: ["10.0.0.0/33", "::/129", "foo", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/+8", "", "10.0.0.0/8/8"])
    func invalidEntries(entry: String) {
        #expect(throws: RaptorError.self) { try TrustedProxies([entry]) }
    }

    @Test func aUnixSocketPeerIsAlwaysTrusted() throws {
        var unix = sockaddr_storage()
        unix.ss_family = sa_family_t(AF_UNIX)
        #expect(try TrustedProxies([]).contains(unix))
    }
}

@Suite struct ForwardedClientTests {
    static let resolver = ForwardedClient(
        trusted: try! TrustedProxies(["10.0.0.0/8", "2001:db8::/32"]), field: .xForwardedFor)

    private func resolve(peer: String, _ hops: [String]) -> String? {
        let parsed = ForwardedClient.parse(Substring(peer))!
        let length = socklen_t(
            parsed.storage.ss_family == sa_family_t(AF_INET)
                ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        return Self.resolver.address(peer: parsed.storage, length: length, hops: hops.map { Substring($0) })
    }

    @Test(arguments: [
        // An untrusted peer is the client, whatever it claims.
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
        // The rightmost untrusted hop: what the client wrote itself (the first) is skipped.
        ("10.0.0.1", ["1.1.1.1", "198.51.100.7", "10.0.0.2"], "198.51.100.7"),
        ("10.0.0.1", ["198.51.100.7"], "198.51.100.7"),
        // All trusted: the leftmost.
        ("10.0.0.1", ["10.0.0.3", "10.0.0.2"], "10.0.0.3"),
        // No field: the proxy itself.
        ("10.0.0.1", [], "10.0.0.1"),
        // Garbage stops the walk at the last trusted hop.
        ("10.0.0.1", ["198.51.100.7", "unknown", "10.0.0.2"], "10.0.0.2"),
        ("10.0.0.1", ["not an address"], "10.0.0.1"),
        // Ports and brackets.
        ("10.0.0.1", ["198.51.100.7:4711"], "198.51.100.7"),
        ("10.0.0.1", ["[2001:db9::7]:4711"], "2001:db9::7"),
        ("2001:db8::1", ["2001:db9::7"], "2001:db9::7"),
        ("10.0.0.1", ["::ffff:10.0.0.9", "198.51.100.7"], "198.51.100.7"),
    ])
    func rightmostUntrustedHop(peer: String, hops: [String], client: String) {
        #expect(resolve(peer: peer, hops) == client)
    }

    @Test(arguments: [
        ("for=192.0.2.60;proto=http;by=203.0.113.43", ["192.0.2.60"]),
        ("for=\"[2001:db8:cafe::17]:4711\", for=198.51.100.17", ["[2001:db8:cafe::17]:4711", "198.51.100.17"]),
        ("For=\"_gazonk\"", ["_gazonk"]),
        ("for=unknown, proto=https", ["unknown", "unknown"]),
        ("by=\"a;b,c\";for=192.0.2.1", ["192.0.2.1"]),
    ])
    func forwardedElements(value: String, hops: [String]) {
        #expect(ForwardedClient.forwardedFor(value).map(String.init) == hops)
    }
}
