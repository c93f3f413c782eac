// Unit tests for the C request parser (CShims/CRaptor/parser.c and the files beside it,
// body.c), driven through the C API exactly as the engine drives it.
//
// Every request, valid or not, goes through `check`, which parses it whole, split in two
// at every byte position, and byte by byte, and requires the same outcome every time.

import CRaptor
import CRaptor.StatusReason
import XCTest

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

// MARK: - Assertions (the driver and `parse` are in ParserTestSupport.swift)

/// Parses `input` every way it can be split; fails unless all agree.
private func check(
    _ input: [UInt8], _ l: rv_limits = limits(), file: StaticString = #filePath,
    line: UInt = #line
) -> Snapshot {
    let outcome = parse(input, l)
    if let mismatch = outcome.mismatch { XCTFail(mismatch, file: file, line: line) }
    return outcome.whole
}

private func check(
    _ input: String, _ l: rv_limits = limits(), file: StaticString = #filePath,
    line: UInt = #line
) -> Snapshot {
    check(bytes(input), l, file: file, line: line)
}

/// The request must fail with `status`, however it is split.
private func assertStatus(
    _ input: String, _ status: Int, _ l: rv_limits = limits(), file: StaticString = #filePath,
    line: UInt = #line
) {
    assertStatus(bytes(input), status, l, file: file, line: line)
}

private func assertStatus(
    _ input: [UInt8], _ status: Int, _ l: rv_limits = limits(), file: StaticString = #filePath,
    line: UInt = #line
) {
    let s = check(input, l, file: file, line: line)
    XCTAssertEqual(
        s.result, RV_PARSE_ERROR.rawValue, "not an error: \(latin1(input).debugDescription) \(s)", file: file,
        line: line)
    XCTAssertEqual(s.status, status, "\(latin1(input).debugDescription): \(s.reason)", file: file, line: line)
}

/// The request must parse completely, however it is split.
@discardableResult
private func assertComplete(
    _ input: String, _ l: rv_limits = limits(), file: StaticString = #filePath,
    line: UInt = #line
) -> Snapshot {
    assertComplete(bytes(input), l, file: file, line: line)
}

@discardableResult
private func assertComplete(
    _ input: [UInt8], _ l: rv_limits = limits(), file: StaticString = #filePath,
    line: UInt = #line
) -> Snapshot {
    let s = check(input, l, file: file, line: line)
    XCTAssertEqual(
        s.result, RV_PARSE_COMPLETE.rawValue, "\(latin1(input).debugDescription): \(s)", file: file, line: line)
    XCTAssertEqual(s.status, 0, file: file, line: line)
    return s
}

// MARK: - Happy paths

final class ParserTests: XCTestCase {

    // RFC 9112 3: request-line = method SP request-target SP HTTP-version
    func testSimpleGetSpans() {
        let req = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
        let s = assertComplete(req)
        XCTAssertEqual(s.method, "GET")
        XCTAssertEqual(s.methodCode, RV_METHOD_GET.rawValue)
        XCTAssertEqual(s.target, "/index.html?q=1")
        XCTAssertEqual(s.major, 1)
        XCTAssertEqual(s.minor, 1)
        XCTAssertEqual(s.fields, [["Host", "example.com"], ["Accept", "*/*"]])
        XCTAssertEqual(s.contentLength, -1)
        XCTAssertEqual(Int(s.headLength), req.utf8.count)
        XCTAssertEqual(Int(s.consumed), req.utf8.count)
        XCTAssertTrue(s.keepAlive)
        XCTAssertFalse(s.chunked)
        XCTAssertFalse(s.upgrade)
        XCTAssertFalse(s.expectContinue)
        XCTAssertEqual(s.body, [])
    }

    // RFC 9110 5.5: leading and trailing whitespace is not part of the field value
    func testFieldValuesAreTrimmed() {
        let s = assertComplete("GET / HTTP/1.1\r\nHost:example.com\r\nA: \t x y \t \r\nEmpty:\r\nSpaces:   \r\n\r\n")
        XCTAssertEqual(s.fields, [["Host", "example.com"], ["A", "x y"], ["Empty", ""], ["Spaces", ""]])
    }

    // RFC 9112 6.2: Content-Length delimits the body
    func testContentLengthBody() {
        let s = assertComplete("POST /upload HTTP/1.1\r\n\(host)Content-Length: 11\r\n\r\nhello world")
        XCTAssertEqual(s.methodCode, RV_METHOD_POST.rawValue)
        XCTAssertEqual(s.contentLength, 11)
        XCTAssertEqual(s.body, bytes("hello world"))
        XCTAssertFalse(s.bodyInFile)
    }

    // RFC 9112 7.1: chunked transfer coding, chunk extensions and trailer section
    func testChunkedBodyWithExtensionsAndTrailers() {
        let req =
            "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n"
            + "5;name=value;flag\r\nhello\r\n"
            + "6 ; q = \"a \\\" b\"\r\n world\r\n"
            + "0\r\nChecksum:  abc \r\nX-Done: yes\r\n\r\n"
        let s = assertComplete(req)
        XCTAssertTrue(s.chunked)
        XCTAssertEqual(s.contentLength, -1)
        XCTAssertEqual(s.body, bytes("hello world"))
        XCTAssertEqual(s.headers, [["Host", "example.com"], ["Transfer-Encoding", "chunked"]])
        XCTAssertEqual(s.trailers, [["Checksum", "abc"], ["X-Done", "yes"]])
        XCTAssertEqual(Int(s.consumed), req.utf8.count)
    }

    // RFC 9112 7.1: a chunked body without trailer fields; chunk sizes are hex
    func testChunkedBodyWithoutTrailers() {
        let s = assertComplete(
            "PUT /x HTTP/1.1\r\n\(host)Transfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n")
        XCTAssertEqual(s.methodCode, RV_METHOD_PUT.rawValue)
        XCTAssertEqual(s.body, bytes("0123456789"))
        XCTAssertEqual(s.trailers, [])
    }

    // A body bigger than body_memory_max is spooled to an unlinked temporary file.
    func testBodySpooledToFileWithContentLength() {
        let body = (0..<300).map { UInt8($0 % 251) }
        let req = bytes("POST / HTTP/1.1\r\n\(host)Content-Length: 300\r\n\r\n") + body
        let s = assertComplete(req, limits(bodyMemoryMax: 100))
        XCTAssertTrue(s.bodyInFile)
        XCTAssertEqual(s.body, body)
    }

    func testBodySpooledToFileWhenChunked() {
        let part = (0..<40).map { UInt8(65 + $0 % 26) }
        var req = bytes("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n")
        for _ in 0..<3 { req += bytes("28\r\n") + part + bytes("\r\n") }
        req += bytes("0\r\n\r\n")
        let s = assertComplete(req, limits(bodyMemoryMax: 50))
        XCTAssertTrue(s.bodyInFile)
        XCTAssertEqual(s.body, part + part + part)
        // At the limit exactly, the body stays in memory.
        let t = assertComplete(req, limits(bodyMemoryMax: 120))
        XCTAssertFalse(t.bodyInFile)
        XCTAssertEqual(t.body, part + part + part)
    }

    func testSpooledBodyFileIsReadableFromOffsetZero() {
        let d = Driver(limits(bodyMemoryMax: 4))
        let req = bytes("POST / HTTP/1.1\r\n\(host)Content-Length: 10\r\n\r\n0123456789")
        let s = d.run(req, cuts: [req.count])
        XCTAssertEqual(s.result, RV_PARSE_COMPLETE.rawValue)
        let fd = rv_parser_request(d.parser)!.pointee.body.fd
        XCTAssertGreaterThanOrEqual(fd, 0)
        var got = [UInt8](repeating: 0, count: 16)
        let n = got.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 16) }
        XCTAssertEqual(n, 10)
        XCTAssertEqual(Array(got[0..<10]), bytes("0123456789"))
        rv_parser_reset(d.parser)
        XCTAssertEqual(rv_parser_request(d.parser)!.pointee.body.fd, -1)
        XCTAssertEqual(fcntl(fd, F_GETFD), -1, "reset closes the body file")
    }

    // The memory buffer is reused across requests, and freed on reset past 64 KiB.
    func testBodyBufferReuseAndRelease() {
        let d = Driver(limits(maxBody: 1 << 20, bodyMemoryMax: 1 << 20))
        func post(_ n: Int) -> rv_body {
            let req = bytes("POST / HTTP/1.1\r\n\(host)Content-Length: \(n)\r\n\r\n") + [UInt8](repeating: 7, count: n)
            var consumed: UInt32 = 0
            let r = req.withUnsafeBufferPointer {
                rv_parser_feed(d.parser, $0.baseAddress!, 0, UInt32(req.count), &consumed)
            }
            XCTAssertEqual(r, RV_PARSE_COMPLETE)
            return rv_parser_request(d.parser)!.pointee.body
        }
        let small = post(100)
        XCTAssertEqual(small.length, 100)
        XCTAssertEqual(small.fd, -1)
        rv_parser_reset(d.parser)
        let empty = rv_parser_request(d.parser)!.pointee.body
        XCTAssertNil(empty.data)
        XCTAssertEqual(empty.length, 0)
        let again = post(50)
        XCTAssertEqual(again.data, small.data, "the buffer is reused")
        rv_parser_reset(d.parser)
        let big = post(100_000)
        XCTAssertEqual(big.fd, -1)
        XCTAssertEqual(Driver.bodyBytes(big), [UInt8](repeating: 7, count: 100_000))
        XCTAssertGreaterThanOrEqual(allocatedSize(big.data), 100_000)
        rv_parser_reset(d.parser)
        let next = post(50)
        XCTAssertLessThan(allocatedSize(next.data), 64 * 1024, "freed past 64 KiB, a small one allocated")
    }

    /// The size malloc gave the block at `pointer` (glibc's malloc_usable_size, which the
    /// Glibc module does not import).
    private func allocatedSize(_ pointer: UnsafeMutablePointer<UInt8>?) -> Int {
        typealias UsableSize = @convention(c) (UnsafeMutableRawPointer?) -> Int
        guard let symbol = dlsym(nil, "malloc_usable_size") else { return -1 }
        return unsafeBitCast(symbol, to: UsableSize.self)(UnsafeMutableRawPointer(pointer))
    }

    // RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request-line
    func testLeadingEmptyLinesAreIgnored() {
        let req = "\r\n\n\r\nGET / HTTP/1.1\r\n\(host)\r\n"
        let s = assertComplete(req)
        XCTAssertEqual(s.target, "/")
        XCTAssertEqual(Int(s.consumed), req.utf8.count)
        XCTAssertEqual(Int(s.headLength), req.utf8.count)
        // Bare CR is not an empty line.
        assertStatus("\rGET / HTTP/1.1\r\n\(host)\r\n", 400)
    }

    // A connection that sent only empty lines still waits for a request: a graceful stop
    // closes it once idle for the grace (conn.c asks rv_parser_started).
    func testStartedOnlyAtTheRequestLine() {
        let d = Driver(limits())
        var consumed: UInt32 = 0
        let all = bytes("\r\n\n\r\nG")
        all.withUnsafeBufferPointer { buffer in
            XCTAssertEqual(rv_parser_feed(d.parser, buffer.baseAddress!, 0, 4, &consumed), RV_PARSE_MORE)
            XCTAssertEqual(rv_parser_started(d.parser), 0, "a CR of an empty line is not a request")
            XCTAssertEqual(rv_parser_feed(d.parser, buffer.baseAddress!, 4, 6, &consumed), RV_PARSE_MORE)
            XCTAssertEqual(rv_parser_started(d.parser), 1)
        }
        rv_parser_reset(d.parser)
        XCTAssertEqual(rv_parser_started(d.parser), 0)
    }

    // RFC 9112 2.2: a recipient MAY recognize a single LF as a line terminator.
    // Decision: accepted in the request line, header and trailer fields (not in chunk lines).
    func testBareLFAcceptedAsLineTerminator() {
        let s = assertComplete("GET /lf HTTP/1.1\nHost: a\nX: y \n\n")
        XCTAssertEqual(s.target, "/lf")
        XCTAssertEqual(s.fields, [["Host", "a"], ["X", "y"]])
        let t = assertComplete("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n1\r\nz\r\n0\r\nT: v\n\n")
        XCTAssertEqual(t.body, bytes("z"))
        XCTAssertEqual(t.trailers, [["T", "v"]])
        assertStatus("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n1\nz\r\n0\r\n\r\n", 400)
    }

    // RFC 9110 9.1: method tokens map to rv_method; others are RV_METHOD_OTHER
    func testMethodMapping() {
        let known: [(String, rv_method)] = [
            ("GET", RV_METHOD_GET), ("HEAD", RV_METHOD_HEAD), ("POST", RV_METHOD_POST),
            ("PUT", RV_METHOD_PUT), ("DELETE", RV_METHOD_DELETE), ("OPTIONS", RV_METHOD_OPTIONS),
            ("PATCH", RV_METHOD_PATCH), ("TRACE", RV_METHOD_TRACE), ("MKCOL", RV_METHOD_OTHER),
            ("PROPFIND", RV_METHOD_OTHER), ("PURGE", RV_METHOD_OTHER),
        ]
        for (name, code) in known {
            let s = assertComplete("\(name) /x HTTP/1.1\r\n\(host)\r\n")
            XCTAssertEqual(s.method, name)
            XCTAssertEqual(s.methodCode, code.rawValue, name)
        }
        let c = assertComplete("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        XCTAssertEqual(c.methodCode, RV_METHOD_CONNECT.rawValue)
        XCTAssertEqual(c.target, "example.com:443")
    }

    // RFC 9112 3.2: origin-form, absolute-form, authority-form (CONNECT), asterisk-form (OPTIONS)
    func testTargetFormsAccepted() {
        XCTAssertEqual(assertComplete("OPTIONS * HTTP/1.1\r\n\(host)\r\n").target, "*")
        XCTAssertEqual(assertComplete("OPTIONS * HTTP/1.1\r\nHost:\r\n\r\n").target, "*")
        XCTAssertEqual(
            assertComplete("GET http://example.com/a?b HTTP/1.1\r\n\(host)\r\n").target, "http://example.com/a?b")
        XCTAssertEqual(assertComplete("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n").target, "[::1]:8443")
    }

    // RFC 9112 9.3: persistence from version and Connection
    func testKeepAlive() {
        XCTAssertTrue(assertComplete("GET / HTTP/1.1\r\n\(host)\r\n").keepAlive)
        XCTAssertFalse(assertComplete("GET / HTTP/1.1\r\n\(host)Connection: close\r\n\r\n").keepAlive)
        XCTAssertFalse(assertComplete("GET / HTTP/1.0\r\n\r\n").keepAlive)
        XCTAssertTrue(assertComplete("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive)
    }

    // RFC 9110 10.1.1: 100-continue only when a body is coming, on HTTP/1.1
    func testExpectContinue() {
        let s = assertComplete("POST / HTTP/1.1\r\n\(host)Expect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc")
        XCTAssertTrue(s.sawContinue)
        XCTAssertTrue(s.expectContinue)
        XCTAssertEqual(s.body, bytes("abc"))
        let c = assertComplete(
            "POST / HTTP/1.1\r\n\(host)Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n")
        XCTAssertTrue(c.sawContinue)
        let none = assertComplete("POST / HTTP/1.1\r\n\(host)Expect: 100-continue\r\nContent-Length: 0\r\n\r\n")
        XCTAssertFalse(none.sawContinue)
        XCTAssertFalse(none.expectContinue)
        let old = assertComplete("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
        XCTAssertFalse(old.sawContinue)
        XCTAssertFalse(old.expectContinue)
    }

    // HEAD_CONTINUE stops right after the head; the body comes after 100 Continue.
    func testHeadContinueConsumedIsEndOfHead() {
        let head = "POST / HTTP/1.1\r\n\(host)Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        let req = bytes(head + "ok")
        let d = Driver(limits())
        var consumed: UInt32 = 0
        let r = req.withUnsafeBufferPointer {
            rv_parser_feed(d.parser, $0.baseAddress!, 0, UInt32(req.count), &consumed)
        }
        XCTAssertEqual(r, RV_PARSE_HEAD_CONTINUE)
        XCTAssertEqual(Int(consumed), head.utf8.count)
        XCTAssertEqual(rv_parser_head_done(d.parser), 1)
        let r2 = req.withUnsafeBufferPointer {
            rv_parser_feed(d.parser, $0.baseAddress!, consumed, UInt32(req.count), &consumed)
        }
        XCTAssertEqual(r2, RV_PARSE_COMPLETE)
        XCTAssertEqual(Int(consumed), req.count)
    }

    // RFC 9110 7.8 / RFC 9112 9.3: Upgrade and CONNECT end the HTTP/1.1 exchange
    func testUpgradeStopsAfterHead() {
        let head = "GET /ws HTTP/1.1\r\n\(host)Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        let s = check(bytes(head + "\u{1}\u{2}binary"))
        XCTAssertEqual(s.result, RV_PARSE_COMPLETE.rawValue)
        XCTAssertTrue(s.upgrade)
        XCTAssertEqual(Int(s.consumed), head.utf8.count)
        let connect = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        let c = check(bytes(connect + "\u{16}\u{3}\u{1}"))
        XCTAssertEqual(c.result, RV_PARSE_COMPLETE.rawValue)
        XCTAssertTrue(c.upgrade)
        XCTAssertEqual(Int(c.consumed), connect.utf8.count)
        // Upgrade without "Connection: upgrade" is informational only.
        XCTAssertFalse(assertComplete("GET / HTTP/1.1\r\n\(host)Upgrade: websocket\r\n\r\n").upgrade)
    }

    // RFC 9112 9.3.2: pipelined requests, one after the other in one buffer
    func testPipelining50Requests() {
        var all: [UInt8] = []
        var expected: [(String, [UInt8])] = []
        for i in 0..<50 {
            switch i % 3 {
            case 0:
                all += bytes("GET /r\(i) HTTP/1.1\r\n\(host)\r\n")
                expected.append(("/r\(i)", []))
            case 1:
                let body = bytes("body-\(i)")
                all += bytes("POST /r\(i) HTTP/1.1\r\n\(host)Content-Length: \(body.count)\r\n\r\n") + body
                expected.append(("/r\(i)", body))
            default:
                all += bytes(
                    "PUT /r\(i) HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\n\(i % 10)!\r\n0\r\nT: \(i)\r\n\r\n"
                )
                expected.append(("/r\(i)", bytes("abc\(i % 10)!")))
            }
        }
        // All in one buffer.
        do {
            let d = Driver(limits())
            var start: UInt32 = 0
            all.withUnsafeBufferPointer { buf in
                for (i, (target, body)) in expected.enumerated() {
                    var consumed: UInt32 = 0
                    let r = rv_parser_feed(d.parser, buf.baseAddress!, start, UInt32(buf.count), &consumed)
                    XCTAssertEqual(r, RV_PARSE_COMPLETE, "request \(i)")
                    let req = rv_parser_request(d.parser)!.pointee
                    XCTAssertEqual(latin1(buf[Int(req.target.off)..<Int(req.target.off + req.target.len)]), target)
                    XCTAssertEqual(Driver.bodyBytes(req.body), body)
                    if i % 3 == 2 { XCTAssertEqual(req.field_count - req.trailer_start, 1) }
                    XCTAssertGreaterThan(consumed, start)
                    start = consumed
                    rv_parser_reset(d.parser)
                }
            }
            XCTAssertEqual(Int(start), all.count)
        }
        // Arriving in 7-byte reads: a read may end one request and start the next.
        do {
            let d = Driver(limits())
            var start: UInt32 = 0
            var end = 0
            var done = 0
            all.withUnsafeBufferPointer { buf in
                while end < all.count {
                    end = min(end + 7, all.count)
                    while start < end {
                        var consumed: UInt32 = 0
                        let r = rv_parser_feed(d.parser, buf.baseAddress!, start, UInt32(end), &consumed)
                        if r == RV_PARSE_MORE { start = UInt32(end); break }
                        XCTAssertEqual(r, RV_PARSE_COMPLETE)
                        let req = rv_parser_request(d.parser)!.pointee
                        XCTAssertEqual(
                            latin1(buf[Int(req.target.off)..<Int(req.target.off + req.target.len)]), expected[done].0)
                        XCTAssertEqual(Driver.bodyBytes(req.body), expected[done].1)
                        done += 1
                        start = consumed
                        rv_parser_reset(d.parser)
                    }
                }
            }
            XCTAssertEqual(done, 50)
        }
    }

    func testHeadDoneAndDiscardable() {
        let d = Driver(limits())
        let req = bytes("\r\nPOST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: v\r\n\r\n")
        req.withUnsafeBufferPointer { buf in
            let p = buf.baseAddress!
            var consumed: UInt32 = 0
            XCTAssertEqual(rv_parser_feed(d.parser, p, 0, 2, &consumed), RV_PARSE_MORE)
            XCTAssertEqual(rv_parser_feed(d.parser, p, 2, 3, &consumed), RV_PARSE_MORE)
            XCTAssertEqual(rv_parser_head_done(d.parser), 0)
            XCTAssertEqual(rv_parser_body_bytes_discardable(d.parser), 0)
            let headEnd = UInt32(2 + "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n".utf8.count)
            XCTAssertEqual(rv_parser_feed(d.parser, p, 3, headEnd + 4, &consumed), RV_PARSE_MORE)
            XCTAssertEqual(rv_parser_head_done(d.parser), 1)
            XCTAssertEqual(rv_parser_body_bytes_discardable(d.parser), 1)
            XCTAssertEqual(rv_parser_feed(d.parser, p, headEnd + 4, headEnd + 13, &consumed), RV_PARSE_MORE)
            XCTAssertEqual(rv_parser_body_bytes_discardable(d.parser), 0, "trailer bytes pin the buffer")
            XCTAssertEqual(rv_parser_feed(d.parser, p, headEnd + 13, UInt32(buf.count), &consumed), RV_PARSE_COMPLETE)
            XCTAssertEqual(Int(consumed), buf.count)
        }
    }

    // While body bytes are discardable the engine may reuse their space: every body
    // segment is fed at the same offset, right after the head.
    func testBodyBytesDroppedWhileDiscardable() {
        for (head, segments, expected) in [
            ("POST / HTTP/1.1\r\n\(host)Content-Length: 10\r\n\r\n", ["012", "3456", "789"], "0123456789"),
            (
                "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n",
                ["4;x=y\r", "\nabcd\r\n", "2\r\nef", "\r\n0\r\n\r\n"], "abcdef"
            ),
        ] {
            let d = Driver(limits())
            var buf = bytes(head)
            let headEnd = buf.count
            var consumed: UInt32 = 0
            var r = buf.withUnsafeBufferPointer {
                rv_parser_feed(d.parser, $0.baseAddress!, 0, UInt32(headEnd), &consumed)
            }
            XCTAssertEqual(r, RV_PARSE_MORE)
            for seg in segments {
                XCTAssertEqual(rv_parser_body_bytes_discardable(d.parser), 1)
                buf = Array(buf[..<headEnd]) + bytes(seg)
                r = buf.withUnsafeBufferPointer {
                    rv_parser_feed(d.parser, $0.baseAddress!, UInt32(headEnd), UInt32(buf.count), &consumed)
                }
            }
            XCTAssertEqual(r, RV_PARSE_COMPLETE, head)
            XCTAssertEqual(Int(consumed), buf.count)
            XCTAssertEqual(Driver.bodyBytes(rv_parser_request(d.parser)!.pointee.body), bytes(expected))
        }
    }

    // RFC 9112 2.3: HTTP/1.x with a higher minor version is served as HTTP/1.1
    func testMinorVersionAboveOneServedAs11() {
        let s = assertComplete("GET / HTTP/1.9\r\n\(host)\r\n")
        XCTAssertEqual(s.major, 1)
        XCTAssertEqual(s.minor, 1)
        XCTAssertTrue(s.keepAlive)
    }

    func testStatusReasons() {
        let expected: [UInt32: String] = [
            100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 204: "No Content",
            206: "Partial Content", 301: "Moved Permanently", 304: "Not Modified", 308: "Permanent Redirect",
            400: "Bad Request", 404: "Not Found", 408: "Request Timeout", 413: "Content Too Large",
            414: "URI Too Long", 417: "Expectation Failed", 421: "Misdirected Request",
            422: "Unprocessable Content", 426: "Upgrade Required", 429: "Too Many Requests",
            431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
            503: "Service Unavailable", 505: "HTTP Version Not Supported",
        ]
        for (code, text) in expected { XCTAssertEqual(String(cString: rv_status_reason(code)), text) }
        XCTAssertEqual(String(cString: rv_status_reason(299)), "")
        XCTAssertEqual(String(cString: rv_status_reason(0)), "")
    }

    // MARK: - 400: request line (RFC 9112 3)

    // RFC 9112 3: exactly one SP between the parts of the request line
    func testMalformedRequestLineDoubleSpace() {
        assertStatus("GET  / HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("GET /  HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus(" GET / HTTP/1.1\r\n\(host)\r\n", 400)
    }

    // RFC 9112 3: the HTTP-version is required (no HTTP/0.9 simple requests)
    func testMalformedRequestLineMissingVersion() {
        assertStatus("GET /\r\n\r\n", 400)
        assertStatus("GET / \r\n\r\n", 400)
        assertStatus("GET\r\n\r\n", 400)
    }

    // RFC 9112 3: nothing may follow the HTTP-version
    func testMalformedRequestLineGarbageAfterVersion() {
        assertStatus("GET / HTTP/1.1 x\r\n\(host)\r\n", 400)
        assertStatus("GET / HTTP/1.1 \r\n\(host)\r\n", 400)
        assertStatus("GET / HTTP/1.10\r\n\(host)\r\n", 400)
        assertStatus("GET / HTTP/11.1\r\n\(host)\r\n", 400)
        assertStatus("GET / HTTP/1\r\n\(host)\r\n", 400)
    }

    // RFC 9112 3: the separator is SP, not HTAB
    func testMalformedRequestLineTabSeparator() {
        assertStatus("GET\t/ HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("GET /\tHTTP/1.1\r\n\(host)\r\n", 400)
    }

    // RFC 9112 2.3: HTTP-name is case-sensitive "HTTP"
    func testMalformedRequestLineLowercaseVersion() {
        assertStatus("GET / http/1.1\r\n\(host)\r\n", 400)
        assertStatus("GET / HTTPS/1.1\r\n\(host)\r\n", 400)
    }

    // RFC 9110 9.1 / 5.6.2: method = token; a non-token is 400
    func testInvalidMethodTokenIs400() {
        assertStatus("G@T / HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("GE(T / HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("GET/ HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus([0x47, 0x00, 0x54] + bytes(" / HTTP/1.1\r\n\(host)\r\n"), 400)
    }

    // RFC 9110 9.1: an unknown (but valid token) method is 501 Not Implemented
    func testUnknownMethodIs501() {
        assertStatus("FOO / HTTP/1.1\r\n\(host)\r\n", 501)
        assertStatus("get / HTTP/1.1\r\n\(host)\r\n", 501)
        assertStatus("GETX / HTTP/1.1\r\n\(host)\r\n", 501)
        assertStatus("BREW-COFFEE / HTTP/1.1\r\n\(host)\r\n", 501)
    }

    // RFC 9112 3 and 9110 9.1: 501 is for a well-formed request line whose method we do
    // not implement; a malformed line with a token-like first word is 400
    func testMalformedLineWithUnknownMethodIs400() {
        assertStatus("this is not http\r\n\r\n", 400)
        assertStatus("FOO bar HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("FOO / HTTP/1\r\n\(host)\r\n", 400)
    }

    // RFC 3986 3.3 and 3.4: a path and query hold pchar, "/" and "?" only
    func testRequestTargetCharactersOutsideURIGrammar() {
        for character in ["\"", "<", ">", "\\", "^", "`", "{", "|", "}", "#", "[", "]"] {
            assertStatus("GET /a\(character)b HTTP/1.1\r\n\(host)\r\n", 400)
            assertStatus("GET /a?q=\(character) HTTP/1.1\r\n\(host)\r\n", 400)
        }
        assertComplete("GET /a-._~!$&'()*+,;=:@/b?c=/?d HTTP/1.1\r\n\(host)\r\n")
        assertComplete("GET http://[::1]:8080/x HTTP/1.1\r\n\(host)\r\n")
        assertStatus("GET http://x/[y] HTTP/1.1\r\n\(host)\r\n", 400)
    }

    // RFC 3986 2.1: "%" starts an escape of two hex digits
    func testMalformedPercentEncodingInTarget() {
        for target in ["/%", "/%2", "/%zz", "/a%g0", "/?q=%"] {
            assertStatus("GET \(target) HTTP/1.1\r\n\(host)\r\n", 400)
        }
        assertComplete("GET /%2F%aB HTTP/1.1\r\n\(host)\r\n")
    }

    // RFC 9112 3.2 / RFC 3986: request-target bytes are visible US-ASCII (0x21-0x7E)
    func testRequestTargetBytesOutsideVisibleASCII() {
        assertStatus("GET /a\u{7F} HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("GET /\u{FF} HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("GET /a\u{1}b HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus([UInt8]("GET /a".utf8) + [0x00] + bytes(" HTTP/1.1\r\n\(host)\r\n"), 400)
        assertStatus([UInt8]("GET /a".utf8) + [0x80] + bytes(" HTTP/1.1\r\n\(host)\r\n"), 400)
    }

    // RFC 9112 3.2: origin-form, absolute-form, authority-form (CONNECT only), asterisk (OPTIONS only)
    func testRequestTargetFormWrong() {
        assertStatus("GET foo HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("GET * HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("GET example.com:80 HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("GET http:/x HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("GET http:// HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("CONNECT / HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("CONNECT example.com HTTP/1.1\r\n\(host)\r\n", 400)
        assertStatus("OPTIONS *x HTTP/1.1\r\n\(host)\r\n", 400)
    }

    // MARK: - 400: field lines (RFC 9112 5, RFC 9110 5.5)

    // RFC 9112 5.1: no whitespace is allowed between the field name and colon
    func testWhitespaceBetweenFieldNameAndColon() {
        assertStatus("GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\n\(host)X\t: y\r\n\r\n", 400)
    }

    // RFC 9112 5.2: obs-fold is rejected with 400 in requests
    func testObsFoldRejected() {
        assertStatus("GET / HTTP/1.1\r\n\(host)X: a\r\n b\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\n\(host)X: a\r\n\tb\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\n Host: example.com\r\n\r\n", 400)
    }

    // RFC 9110 5.1: field-name = token
    func testNonTcharInFieldName() {
        assertStatus("GET / HTTP/1.1\r\n\(host)Ho st: x\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\n\(host)A(B: x\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\n\(host)A\u{1}B: x\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\n\(host)Ä: x\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\n\(host)NoColon\r\n\r\n", 400)
    }

    // RFC 9110 5.1: a field name is at least one tchar
    func testEmptyFieldName() {
        assertStatus("GET / HTTP/1.1\r\n\(host): x\r\n\r\n", 400)
    }

    // RFC 9110 5.5: field values hold no CR, LF, NUL or other CTL (HTAB allowed)
    func testControlCharactersInFieldValue() {
        assertStatus([UInt8]("GET / HTTP/1.1\r\n\(host)X: a".utf8) + [0x00] + bytes("b\r\n\r\n"), 400)
        assertStatus("GET / HTTP/1.1\r\n\(host)X: a\u{1}b\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\n\(host)X: a\u{1F}b\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\n\(host)X: a\u{7F}b\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\n\(host)X: a\rb\r\n\r\n", 400)
        let ok = assertComplete("GET / HTTP/1.1\r\n\(host)X: a\tb\u{E9}\r\n\r\n")
        XCTAssertEqual(ok.fields.last?[1], latin1(bytes("a\tb\u{E9}")))
    }

    // RFC 9112 2.2: a bare CR outside content is invalid
    func testBareCRInHead() {
        assertStatus("GET / HTTP/1.1\r\(host)\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\n\(host)\rX", 400)
        assertStatus("GET / HTTP/1.1\r\n\(host)\r\r\n", 400)
    }

    // MARK: - 400: Host (RFC 9112 3.2, RFC 9110 7.2)

    // RFC 9112 3.2: a server MUST respond 400 to an HTTP/1.1 request without Host
    func testMissingHostOnHTTP11() {
        assertStatus("GET / HTTP/1.1\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.1\r\nHostname: x\r\n\r\n", 400)
        XCTAssertEqual(assertComplete("GET / HTTP/1.0\r\n\r\n").minor, 0)
    }

    // RFC 9112 3.2: more than one Host field is 400
    func testMoreThanOneHost() {
        assertStatus("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400)
        assertStatus("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400)
    }

    // RFC 9110 7.2: Host = uri-host [ ":" port ]; empty only when the target has no authority
    func testInvalidHostValue() {
        for bad in ["a b", "a/b", "a@b", "[::1", "[::1]x", "[zz::1]", "a:b", "a:123456", ":80", "a\"b", "%zz", "[]"] {
            assertStatus("GET / HTTP/1.1\r\nHost: \(bad)\r\n\r\n", 400)
        }
        for good in [
            "example.com", "example.com:8080", "127.0.0.1:80", "[::1]:80", "[v1.fe]", "a_b-c.d~e", "ex%41mple", "x:",
        ] {
            assertComplete("GET / HTTP/1.1\r\nHost: \(good)\r\n\r\n")
        }
        assertComplete("GET / HTTP/1.1\r\nHost:\r\n\r\n")
        assertStatus("GET http://example.com/ HTTP/1.1\r\nHost:\r\n\r\n", 400)
    }

    // MARK: - 400: body framing (RFC 9112 6)

    // RFC 9110 8.6: Content-Length = 1*DIGIT
    func testInvalidContentLength() {
        for bad in ["abc", "", "+3", "-3", "3,3", "3 3", "0x3", "99999999999999999999", "9223372036854775808"] {
            assertStatus("POST / HTTP/1.1\r\n\(host)Content-Length: \(bad)\r\n\r\nabc", 400)
        }
    }

    // RFC 9112 6.3: more than one Content-Length field is rejected, even with equal values
    func testMoreThanOneContentLength() {
        assertStatus("POST / HTTP/1.1\r\n\(host)Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400)
        assertStatus("POST / HTTP/1.1\r\n\(host)Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400)
    }

    // RFC 9112 6.3: Content-Length with Transfer-Encoding is a smuggling attempt
    func testContentLengthWithTransferEncoding() {
        assertStatus("POST / HTTP/1.1\r\n\(host)Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
        assertStatus("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400)
    }

    // RFC 9112 6.3: chunked must be the final transfer coding of a request
    func testTransferEncodingChunkedNotFinal() {
        assertStatus("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\n\r\nabc", 400)
        assertStatus("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400)
        assertStatus(
            "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400)
        assertStatus("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400)
        assertStatus("POST / HTTP/1.1\r\n\(host)Transfer-Encoding:\r\n\r\n0\r\n\r\n", 400)
    }

    // RFC 9112 6.1: a sender MUST NOT apply chunked more than once
    func testChunkedAppliedMoreThanOnce() {
        assertStatus("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400)
        assertStatus(
            "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
    }

    // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing
    func testTransferEncodingOnHTTP10() {
        assertStatus("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
    }

    // RFC 9112 7.1: chunk-size = 1*HEXDIG, followed by optional extensions and CRLF
    func testChunkSizeBadSyntax() {
        let head = "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n"
        assertStatus(head + "x\r\nabc\r\n0\r\n\r\n", 400)
        assertStatus(head + "\r\nabc\r\n0\r\n\r\n", 400)
        assertStatus(head + "-3\r\nabc\r\n0\r\n\r\n", 400)
        assertStatus(head + "3 \r\nabc\r\n0\r\n\r\n", 400)
        assertStatus(head + "3\rxabc\r\n0\r\n\r\n", 400)
        assertStatus(head + "fffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400, limits(maxBody: .max))
    }

    // RFC 9112 7.1: chunk data is followed by CRLF
    func testChunkFramingMissingCRLFAfterData() {
        let head = "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n"
        assertStatus(head + "3\r\nabcX\r\n0\r\n\r\n", 400)
        assertStatus(head + "3\r\nabc\n0\r\n\r\n", 400)
        assertStatus(head + "3\r\nabc\rX0\r\n\r\n", 400)
        assertStatus(head + "3\r\nab\r\n0\r\n\r\n", 400)
    }

    // RFC 9112 7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
    func testInvalidChunkExtension() {
        let head = "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n"
        for bad in [
            "3;\u{1}", "3;", "3;=a", "3;a=\"b\" ", "3;a=\"b\"\"", "3;a b", "3;a=", "3;a=b c", "3;a=\"b\u{1}\"",
            "3;a=\"b\"c", "3;a=\"b", "3;a@b", "3;a ",
        ] {
            assertStatus(head + bad + "\r\nabc\r\n0\r\n\r\n", 400)
        }
        let long = String(repeating: "a", count: 5000)
        assertStatus(head + "3;" + long + "\r\nabc\r\n0\r\n\r\n", 400)
    }

    // RFC 9112 7.1.2: trailer fields follow the same syntax as header fields
    func testInvalidTrailerField() {
        let head = "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
        assertStatus(head + "A b: c\r\n\r\n", 400)
        assertStatus(head + "A : c\r\n\r\n", 400)
        assertStatus(head + "A: c\r\n d\r\n\r\n", 400)
        assertStatus(head + " A: c\r\n\r\n", 400)
        assertStatus(head + "A: c\u{1}d\r\n\r\n", 400)
        assertStatus(head + ": c\r\n\r\n", 400)
        assertStatus(head + "A: c\rd\r\n\r\n", 400)
        assertStatus(head + "A: c\r\n\rX", 400)
    }

    // MARK: - 505 (RFC 9110 15.6.6)

    // RFC 9110 15.6.6 / RFC 9112 2.3: only HTTP/1.x is served; "HTTP/0.9" and "HTTP/2.0"
    // spelled out are 505 (a request line without version is 400, see above)
    func testHTTPMajorVersionOtherThanOne() {
        assertStatus("GET / HTTP/2.0\r\n\(host)\r\n", 505)
        assertStatus("GET / HTTP/0.9\r\n\r\n", 505)
        assertStatus("GET / HTTP/3.0\r\n\(host)\r\n", 505)
    }

    // MARK: - 414, 431 (RFC 9110 15.5.15, RFC 6585 5)

    // RFC 9112 3: a server MUST answer 414 to a request-target longer than it will parse;
    // detected as soon as the target passes the limit, before the line is complete
    func testRequestTargetTooLong() {
        let l = limits(maxTarget: 20, maxHead: 1000)
        assertComplete("GET /" + String(repeating: "a", count: 19) + " HTTP/1.1\r\n\(host)\r\n", l)
        assertStatus("GET /" + String(repeating: "a", count: 20) + " HTTP/1.1\r\n\(host)\r\n", 414, l)
        assertStatus("GET /" + String(repeating: "a", count: 40), 414, l)
    }

    // RFC 6585 5: 431 when the header section is too large, detected mid-line
    func testHeadTooLarge() {
        let req = "GET / HTTP/1.1\r\n\(host)X: 123456789\r\n\r\n"
        let n = UInt32(req.utf8.count)
        assertComplete(req, limits(maxHead: n))
        assertStatus(req, 431, limits(maxHead: n - 1))
        assertStatus("GET / HTTP/1.1\r\n\(host)X: " + String(repeating: "v", count: 200), 431, limits(maxHead: 100))
        assertStatus("GET /" + String(repeating: "a", count: 200), 431, limits(maxTarget: 1000, maxHead: 100))
        // Leading empty lines do not count.
        assertComplete("\r\n\r\n" + req, limits(maxHead: n))
    }

    // RFC 6585 5: too many header fields is 431
    func testTooManyFields() {
        let fields = (0..<5).map { "X-\($0): v\r\n" }.joined()
        assertComplete("GET / HTTP/1.1\r\n\(host)\(fields)\r\n", limits(maxFields: 6))
        assertStatus("GET / HTTP/1.1\r\n\(host)\(fields)\r\n", 431, limits(maxFields: 5))
        let many = (0..<120).map { "X-\($0): v\r\n" }.joined()
        assertStatus("GET / HTTP/1.1\r\n\(host)\(many)\r\n", 431, limits(maxFields: 500))
    }

    // RFC 9112 7.1.2 / RFC 6585 5: trailer fields count against the head limits
    func testTrailersCountAgainstLimits() {
        let head = "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n"
        let trailers = "A: 1234567890\r\nB: 1234567890\r\n\r\n"
        let req = head + "3\r\nabc\r\n0\r\n" + trailers
        let budget = UInt32(head.utf8.count + trailers.utf8.count)
        let s = assertComplete(req, limits(maxHead: budget))
        XCTAssertEqual(s.trailers, [["A", "1234567890"], ["B", "1234567890"]])
        assertStatus(req, 431, limits(maxHead: budget - 1))
        assertComplete(req, limits(maxFields: 4))
        assertStatus(req, 431, limits(maxFields: 3))
    }

    // MARK: - 413 (RFC 9110 15.5.14)

    // RFC 9110 15.5.14: decided from Content-Length before the body (and before 100 Continue)
    func testContentLengthOverMaxBody() {
        assertComplete("POST / HTTP/1.1\r\n\(host)Content-Length: 10\r\n\r\n0123456789", limits(maxBody: 10))
        assertStatus("POST / HTTP/1.1\r\n\(host)Content-Length: 11\r\n\r\n", 413, limits(maxBody: 10))
        let s = check(
            "POST / HTTP/1.1\r\n\(host)Expect: 100-continue\r\nContent-Length: 11\r\n\r\n", limits(maxBody: 10))
        XCTAssertEqual(s.status, 413)
        XCTAssertFalse(s.sawContinue)
    }

    // RFC 9110 15.5.14: a chunked body growing past the limit while it is read
    func testChunkedBodyOverMaxBody() {
        let head = "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n"
        assertComplete(head + "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n", limits(maxBody: 10))
        assertStatus(head + "5\r\n01234\r\n6\r\n567890\r\n0\r\n\r\n", 413, limits(maxBody: 10))
        assertStatus(head + "fffffff", 413, limits(maxBody: 10))
    }

    // MARK: - 417 (RFC 9110 10.1.1)

    // RFC 9110 10.1.1: an expectation other than 100-continue may be answered 417
    func testUnsupportedExpectation() {
        assertStatus("POST / HTTP/1.1\r\n\(host)Expect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417)
        assertStatus("GET / HTTP/1.1\r\n\(host)Expect: 100-continue, foo\r\n\r\n", 417)
        assertStatus("GET / HTTP/1.1\r\n\(host)Expect: 100-continuex\r\n\r\n", 417)
    }

    // MARK: - 501 (RFC 9110 15.6.2)

    // RFC 9112 6.1: a transfer coding the server does not understand is 501
    func testUnimplementedTransferCoding() {
        assertStatus("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501)
        assertStatus(
            "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501)
    }

    // After COMPLETE or ERROR the parser stays put until reset.
    func testFeedAfterEndAndReset() {
        let d = Driver(limits())
        let req = bytes("GET / HTTP/1.1\r\n\(host)\r\nGARBAGE\r\n\r\n")
        req.withUnsafeBufferPointer { buf in
            var consumed: UInt32 = 0
            XCTAssertEqual(
                rv_parser_feed(d.parser, buf.baseAddress!, 0, UInt32(buf.count), &consumed), RV_PARSE_COMPLETE)
            let first = consumed
            XCTAssertEqual(
                rv_parser_feed(d.parser, buf.baseAddress!, first, UInt32(buf.count), &consumed), RV_PARSE_COMPLETE)
            XCTAssertEqual(consumed, first)
            rv_parser_reset(d.parser)
            XCTAssertEqual(rv_parser_head_done(d.parser), 0)
            XCTAssertEqual(
                rv_parser_feed(d.parser, buf.baseAddress!, first, UInt32(buf.count), &consumed), RV_PARSE_ERROR)
            XCTAssertEqual(rv_parser_request(d.parser)!.pointee.error_status, 400)
            XCTAssertEqual(
                rv_parser_feed(d.parser, buf.baseAddress!, first, UInt32(buf.count), &consumed), RV_PARSE_ERROR)
            rv_parser_reset(d.parser)
            XCTAssertEqual(rv_parser_request(d.parser)!.pointee.error_status, 0)
        }
    }
}
