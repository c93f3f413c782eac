import Foundation
import Testing

/// RFC 9112 (HTTP/1.1) and RFC 9110 (HTTP semantics), one rule per test, each checked
/// over the wire against raptor-testapp. The section is cited on each.
@Suite(.concurrent) final class ConformanceTests: ServerSuite {
    /// The response to each request in `requests` (one connection each), by request.
    func statuses(_ server: ServerProcess, _ requests: [String]) throws -> [(String, Int?)] {
        try requests.map { request in
            let client = try connect(server)
            try client.send(request)
            return (request, try? client.readResponse().status)
        }
    }

    /// Asserts every request gets `expected` (one of them), naming every one that does not.
    func assertStatuses(
        _ server: ServerProcess, _ requests: [String], in expected: Set<Int>, _ rule: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let wrong = try statuses(server, requests).filter { $0.1.map { !expected.contains($0) } ?? true }
        let shown = wrong.map { "  \($0.0.debugDescription) -> \($0.1.map(String.init) ?? "no response")" }
        #expect(
            wrong.isEmpty, "\(rule): expected \(expected.sorted()) for each; wrong:\n\(shown.joined(separator: "\n"))",
            sourceLocation: sourceLocation)
    }

    // MARK: Message format (RFC 9112 section 2)

    /// RFC 9112 2.2: a server SHOULD ignore at least one empty line (CRLF) received before
    /// the request-line.
    @Test(arguments: ServerMode.all)
    func leadingEmptyLineBeforeRequestLineIsIgnored(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send("\r\n" + Requests.get("/request?n=1"))
        let first = try client.readResponse().bodyText
        #expect(first.contains("query=n=1"))
        // Between pipelined requests too (old clients add a CRLF after a POST body).
        try client.send(Requests.post("/echo", body: "abc") + "\r\n" + Requests.get("/request?n=2"))
        let responses = try client.readResponses(2)
        #expect(responses[0].bodyText == "abc")
        #expect(responses[1].bodyText.contains("query=n=2"), "\(responses[1].bodyText)")
    }

    /// RFC 9112 2.2: a bare CR outside the content is invalid; a recipient MUST reject the
    /// message or replace it with SP (this server rejects: 400, then close).
    @Test(arguments: ServerMode.all)
    func bareCRInFieldValueGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n")
    }

    /// RFC 9112 2.2: whitespace between the start-line and the first field line: reject, or
    /// ignore that line; never take it as a field.
    @Test(arguments: ServerMode.all)
    func whitespaceBeforeFirstFieldIsRejectedOrIgnored(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send("GET /header-values?name=x-evil HTTP/1.1\r\n X-Evil: 1\r\nHost: localhost\r\n\r\n")
        let response = try client.readResponse()
        if response.status == 200 {
            #expect(response.bodyText == "\n", "the whitespace-preceded line was processed as a field")
        } else {
            #expect(response.status == 400)
        }
    }

    /// RFC 9112 2.3: HTTP-version is case-sensitive, "HTTP/" DIGIT "." DIGIT.
    @Test(arguments: ServerMode.all)
    func malformedHTTPVersionGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try assertStatuses(
            server,
            [
                "GET / http/1.1\r\nHost: localhost\r\n\r\n", "GET / HTTP/01.1\r\nHost: localhost\r\n\r\n",
                "GET / HTTP/1\r\nHost: localhost\r\n\r\n", "GET / HTTP/1.1.1\r\nHost: localhost\r\n\r\n",
            ], in: [400], "RFC 9112 2.3")
    }

    /// RFC 9110 2.5: a higher minor version of a major version the server implements is
    /// served as the highest minor version it has; RFC 9110 6.2 / 9112 2.3: the response
    /// says HTTP/1.1.
    @Test(arguments: ServerMode.all)
    func higherMinorVersionIsServedAsHTTP11(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(server, "GET /request HTTP/1.2\r\nHost: localhost\r\n\r\n")
        #expect(response.status == 200, "\(response.statusLine)")
        #expect(response.version == "HTTP/1.1")
    }

    /// RFC 9112 2.3 and RFC 9110 6.2: a server sends the highest version it conforms to
    /// whose major is at most the request's: HTTP/1.1, also to an HTTP/1.0 request.
    @Test(arguments: ServerMode.all)
    func responseVersionIsHTTP11(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let toHTTP11 = try exchange(server, Requests.get("/")).version
        #expect(toHTTP11 == "HTTP/1.1")
        let toHTTP10 = try exchange(server, "GET / HTTP/1.0\r\n\r\n").version
        #expect(toHTTP10 == "HTTP/1.1")
    }

    /// RFC 9110 2.5 / 15.6.6: a major version the server does not support gets 505.
    @Test(arguments: ServerMode.all)
    func unsupportedMajorVersionGets505(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try assertStatuses(
            server, ["GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", "GET / HTTP/3.0\r\nHost: localhost\r\n\r\n"],
            in: [505],
            "RFC 9110 15.6.6")
    }

    // MARK: Request line (RFC 9112 section 3)

    /// RFC 9110 9.1: the method token is case-sensitive, so "get" is not GET; RFC 9110
    /// 15.6.2: an unrecognized method gets 501.
    @Test(arguments: ServerMode.all)
    func lowercaseMethodGets501(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try assertStatuses(server, ["get / HTTP/1.1\r\nHost: localhost\r\n\r\n"], in: [501], "RFC 9110 9.1")
    }

    /// RFC 9110 9.1 / 15.6.2: an unknown (well-formed) method gets 501.
    @Test(arguments: ServerMode.all)
    func unknownMethodGets501(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try assertStatuses(
            server, ["FROBNICATE / HTTP/1.1\r\nHost: localhost\r\n\r\n", "BREW / HTTP/1.1\r\nHost: localhost\r\n\r\n"],
            in: [501], "RFC 9110 9.1")
    }

    /// RFC 9112 3.1: method = token; a method with characters outside tchar is an invalid
    /// request-line: 400.
    @Test(arguments: ServerMode.all)
    func invalidMethodTokenGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try assertStatuses(
            server,
            ["GE(T / HTTP/1.1\r\nHost: localhost\r\n\r\n", "G\u{1}ET / HTTP/1.1\r\nHost: localhost\r\n\r\n"],
            in: [400], "RFC 9112 3.1")
    }

    /// RFC 9112 3.2 / RFC 3986: control characters, DEL and raw non-ASCII bytes are not
    /// part of any request-target: 400.
    @Test(arguments: ServerMode.all)
    func controlAndNonASCIICharactersInTargetGet400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        var requests = ["\u{7F}", "\u{1}", "\u{0}", "\u{1B}"].map { "GET /a\($0)b HTTP/1.1\r\nHost: localhost\r\n\r\n" }
        requests.append("GET /caf\u{E9} HTTP/1.1\r\nHost: localhost\r\n\r\n")  // raw UTF-8 bytes
        try assertStatuses(server, requests, in: [400], "RFC 9112 3.2")
    }

    /// RFC 9112 3.2 / RFC 3986 2 and 3.3: printable characters outside the URI grammar
    /// (quotes, angle brackets, backslash, caret, backquote, braces, bar) make an invalid
    /// request-target: 400.
    @Test(arguments: ServerMode.all)
    func charactersOutsideURIGrammarInTargetGet400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let bad = ["\"", "<", ">", "\\", "^", "`", "{", "|", "}"]
        try assertStatuses(
            server, bad.map { "GET /a\($0)b HTTP/1.1\r\nHost: localhost\r\n\r\n" }, in: [400], "RFC 3986 3.3")
    }

    /// RFC 3986 2.1: pct-encoded = "%" HEXDIG HEXDIG; a broken one is an invalid target: 400.
    @Test(arguments: ServerMode.all)
    func malformedPercentEncodingInTargetGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try assertStatuses(
            server,
            [
                "GET /a%zzb HTTP/1.1\r\nHost: localhost\r\n\r\n", "GET /a%4 HTTP/1.1\r\nHost: localhost\r\n\r\n",
                "GET /a% HTTP/1.1\r\nHost: localhost\r\n\r\n",
            ], in: [400], "RFC 3986 2.1")
    }

    /// RFC 9112 3.2: origin-form starts with "/".
    @Test(arguments: ServerMode.all)
    func targetWithoutLeadingSlashGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try assertStatuses(server, ["GET request HTTP/1.1\r\nHost: localhost\r\n\r\n"], in: [400], "RFC 9112 3.2.1")
    }

    /// RFC 9112 3.2.2: a server MUST accept the absolute-form, and MUST ignore Host in
    /// favour of the target's authority.
    @Test(arguments: ServerMode.all)
    func absoluteFormTargetIsAccepted(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(
            server, "GET http://example.com/request?n=1 HTTP/1.1\r\nHost: other.example\r\n\r\n")
        #expect(response.status == 200, "\(response.statusLine)")
        #expect(response.bodyText.contains(" path=/request "), "\(response.bodyText)")
        #expect(response.bodyText.contains("query=n=1"), "\(response.bodyText)")
        #expect(response.bodyText.contains("authority=example.com"), "Host must be ignored: \(response.bodyText)")
    }

    /// RFC 9112 3.2.4: the asterisk-form is for OPTIONS only; it is accepted there.
    @Test(arguments: ServerMode.all)
    func asteriskFormOnlyForOptions(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send("OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let options = try client.readResponse()
        #expect(options.status != 400, "OPTIONS * is a valid request: \(options.statusLine)")
        #expect(options.status < 500, "\(options.statusLine)")
        try client.send(Requests.get("/"))
        let status = try client.readResponse().status
        #expect(status == 200, "the connection goes on after OPTIONS *")
        try assertStatuses(server, ["GET * HTTP/1.1\r\nHost: localhost\r\n\r\n"], in: [400], "RFC 9112 3.2.4")
    }

    /// RFC 9112 3.2: an HTTP/1.1 request without Host gets 400.
    @Test(arguments: ServerMode.all)
    func missingHostGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\n\r\n")
    }

    /// RFC 9112 3.2: more than one Host field line gets 400.
    @Test(arguments: ServerMode.all)
    func multipleHostGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n")
    }

    /// RFC 9112 3.2 / RFC 9110 7.2: a Host with an invalid value gets 400.
    @Test(arguments: ServerMode.all)
    func invalidHostValueGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try assertStatuses(
            server,
            [
                "GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", "GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n",
            ], in: [400], "RFC 9112 3.2")
    }

    /// RFC 9110 7.2: Host = uri-host [ ":" port ], IP literals included.
    @Test(arguments: ServerMode.all)
    func hostWithPortAndIPLiteralIsAccepted(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try assertStatuses(
            server,
            [
                "GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            ], in: [200], "RFC 9110 7.2")
    }

    // MARK: Fields (RFC 9110 section 5, RFC 9112 section 5)

    /// RFC 9110 5.1: field names are case-insensitive.
    @Test(arguments: ServerMode.all)
    func fieldNamesAreCaseInsensitive(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send("GET /header-values?name=X-THING HTTP/1.1\r\nhOsT: localhost\r\nx-ThInG: 1\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == "1\n")
        try client.send("POST /echo HTTP/1.1\r\nHOST: localhost\r\ncontent-LENGTH: 3\r\n\r\nabc")
        let body = try client.readResponse().bodyText
        #expect(body == "abc")
    }

    /// RFC 9110 5.1: a field name is a token; anything else is invalid: 400.
    @Test(arguments: ServerMode.all)
    func invalidFieldNameGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nX(Bad): 1\r\n\r\n")
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\n: empty-name\r\n\r\n")
    }

    /// RFC 9110 5.3: field lines with the same name keep their order.
    @Test(arguments: ServerMode.all)
    func repeatedFieldLinesKeepTheirOrder(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(
            server, Requests.get("/header-values?name=x-thing", "X-Thing: a\r\nX-Other: z\r\nX-Thing: b, c\r\n"))
        #expect(response.bodyText == "a|b, c\n")
    }

    /// RFC 9110 5.5: leading and trailing whitespace is not part of the field value.
    @Test(arguments: ServerMode.all)
    func whitespaceAroundFieldValueIsTrimmed(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(
            server, Requests.get("/header-values?name=x-thing", "X-Thing: \t  value with  inner \t spaces \t \r\n"))
        #expect(response.bodyText == "value with  inner \t spaces\n")
    }

    /// RFC 9110 5.5: a field value may be empty.
    @Test(arguments: ServerMode.all)
    func emptyFieldValueIsAccepted(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(server, Requests.get("/header-values?name=x-empty", "X-Empty:\r\nX-Blank:   \r\n"))
        #expect(response.status == 200)
        #expect(response.bodyText == "\n")
    }

    /// RFC 9110 5.5: obs-text (bytes 0x80-0xFF) is allowed in field values.
    @Test(arguments: ServerMode.all)
    func obsTextInFieldValueIsAccepted(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(
            Array("GET / HTTP/1.1\r\nHost: localhost\r\nX-Name: caf".utf8) + [0xC3, 0xA9] + Array("\r\n\r\n".utf8))
        let status = try client.readResponse().status
        #expect(status == 200)
    }

    /// RFC 9110 5.5: NUL in a field value is invalid and dangerous: reject (400) or replace.
    @Test(arguments: ServerMode.all)
    func nulInFieldValueGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\u{0}b\r\n\r\n")
    }

    /// RFC 9112 5.1: no whitespace between field name and colon; a server MUST reject with 400.
    @Test(arguments: ServerMode.all)
    func whitespaceBeforeColonGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nX-A : 1\r\n\r\n")
    }

    /// RFC 9112 5.2: obs-fold in a request: reject with 400 (or unfold; this server rejects).
    @Test(arguments: ServerMode.all)
    func obsFoldGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n  b\r\n\r\n")
    }

    // MARK: Body framing (RFC 9112 sections 6 and 7)

    /// RFC 9112 6.3 (6): a request with neither Content-Length nor Transfer-Encoding has
    /// no body; the next bytes are the next request.
    @Test(arguments: ServerMode.all)
    func requestWithoutLengthHasNoBody(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send("POST /echo HTTP/1.1\r\nHost: localhost\r\n\r\n" + Requests.get("/"))
        let responses = try client.readResponses(2)
        #expect(responses[0].status == 200)
        #expect(responses[0].body.count == 0)
        #expect(responses[1].bodyText == "Hello, World!")
    }

    /// RFC 9110 8.6: Content-Length = 1*DIGIT, so leading zeros are valid.
    @Test(arguments: ServerMode.all)
    func contentLengthWithLeadingZerosIsAccepted(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(
            server, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 005\r\n\r\nhello")
        #expect(response.status == 200)
        #expect(response.bodyText == "hello")
    }

    /// RFC 9112 6.3 (5): an invalid Content-Length (or differing values) gets 400 and close.
    @Test(arguments: ServerMode.all)
    func invalidContentLengthGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        for value in ["abc", "-1", "1 2", "5\r\nContent-Length: 6"] {
            try expectRejectedWith400(
                server, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(value)\r\n\r\nhello!")
        }
    }

    /// RFC 9112 6.1 and 6.3 (3): Content-Length with Transfer-Encoding: reject (400) or let
    /// Transfer-Encoding win, and in any case close the connection after the response.
    @Test(arguments: ServerMode.all)
    func contentLengthWithTransferEncodingIsRejected(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(
            server,
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"
        )
    }

    /// RFC 9112 6.3 (4): chunked present but not the final coding: 400, then close.
    @Test(arguments: ServerMode.all)
    func chunkedNotFinalGets400(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(
            server, "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n")
    }

    /// RFC 9112 6.1: a transfer coding the server does not understand SHOULD get 501.
    @Test(arguments: ServerMode.all)
    func unknownTransferCodingGets501(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectStatusThenClose(
            server, "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            status: 501)
    }

    /// RFC 9112 7: transfer-coding names are case-insensitive.
    @Test(arguments: ServerMode.all)
    func transferCodingNameIsCaseInsensitive(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(
            server, "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        #expect(response.status == 200)
        #expect(response.bodyText == "abc")
    }

    /// RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request means faulty framing; the
    /// server MUST close the connection after responding.
    @Test(arguments: ServerMode.all)
    func transferEncodingInHTTP10ClosesAfter(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(
            "POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        _ = try client.readResponse()
        expectClosed(client, "RFC 9112 6.1: Transfer-Encoding in HTTP/1.0")
    }

    /// RFC 9112 7.1: chunk-size is 1*HEXDIG, either case, leading zeros allowed.
    @Test(arguments: ServerMode.all)
    func chunkSizeHexDigitsInEitherCase(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let ten = "0123456789"
        let response = try exchange(
            server,
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "a\r\n\(ten)\r\nA\r\n\(ten)\r\n000a\r\n\(ten)\r\n0\r\n\r\n")
        #expect(response.status == 200)
        #expect(response.bodyText == (ten + ten + ten))
    }

    /// RFC 9112 7.1: a recipient MUST guard against chunk sizes that overflow: rejected
    /// (400, or 413 for too large), then close.
    @Test(arguments: ServerMode.all)
    func chunkSizeOverflowIsRejected(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n1FFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n"
        )
        let response = try client.readResponse()
        #expect([400, 413].contains(response.status), "\(response.statusLine)")
        expectClosed(client)
    }

    /// RFC 9112 7.1.1: unrecognized chunk extensions MUST be ignored.
    @Test(arguments: ServerMode.all)
    func chunkExtensionsAreIgnored(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(
            server,
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "3;a=b\r\nabc\r\n3 ; q=\"x;y\" ; flag\r\ndef\r\n0;z\r\n\r\n")
        #expect(response.status == 200)
        #expect(response.bodyText == "abcdef")
    }

    /// RFC 9112 7.1.2: trailer fields after the last chunk are received (and kept apart
    /// from the header fields).
    @Test(arguments: ServerMode.all)
    func trailerFieldsAreReceived(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(
            server,
            "POST /trailers HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "2\r\nok\r\n0\r\nX-Sum: 42\r\n\r\n")
        #expect(response.status == 200)
        #expect(response.bodyText.lowercased() == "body=ok\nx-sum: 42\n")
    }

    /// RFC 9112 6.1 and 7: a server MUST NOT send Transfer-Encoding (so never chunked) in a
    /// response to an HTTP/1.0 request.
    @Test(arguments: ServerMode.all)
    func noChunkedResponseToHTTP10(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        for request in [
            "GET /stream HTTP/1.0\r\n\r\n", "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            "GET /bytes?n=70000 HTTP/1.0\r\n\r\n",
        ] {
            let client = try connect(server)
            try client.send(request)
            let response = try client.readResponse()
            #expect(response.status == 200, "\(request)")
            #expect(response.header("Transfer-Encoding") == nil, "\(request.debugDescription): \(response.rawHead)")
            if request.contains("/stream") {
                #expect(response.bodyText == "chunk 0\nchunk 1\nchunk 2\n", "\(request)")
            }
        }
    }

    /// RFC 9112 6.3 (1) and RFC 9110 15.2/15.3.5/15.4.5: 1xx, 204 and 304 responses end
    /// at the empty line after the header section.
    @Test(arguments: ServerMode.all)
    func informationalNoContentAndNotModifiedHaveNoBody(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        let interim = try client.readResponse()
        #expect(interim.status == 100)
        try client.send("ok" + Requests.get("/status?code=204") + Requests.get("/status?code=304") + Requests.get("/"))
        let responses = try client.readResponses(4)
        #expect(responses.map(\.status) == [200, 204, 304, 200], "a body after 100, 204 or 304 puts them out of step")
        #expect(responses[0].bodyText == "ok")
        #expect(responses[3].bodyText == "Hello, World!")
    }

    /// RFC 9110 9.3.2: the response to HEAD has no content, and the same fields as GET.
    @Test(arguments: ServerMode.all)
    func headResponseHasNoBody(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(Requests.head("/request?n=1") + Requests.get("/request?n=2"))
        let head = try client.readResponse(to: "HEAD")
        let get = try client.readResponse()
        #expect(head.status == 200)
        #expect(get.bodyText.contains("query=n=2"), "HEAD's response carried a body")
    }

    // MARK: Semantics (RFC 9110)

    /// RFC 9110 6.6.1: an origin server with a clock MUST send Date in 2xx, 3xx and 4xx
    /// responses, as an IMF-fixdate.
    @Test(arguments: ServerMode.all)
    func dateIsPresentInResponses(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let responses = [
            try exchange(server, Requests.get("/")), try exchange(server, Requests.get("/missing")),
            try exchange(server, "GET / HTTP/1.1\r\n\r\n"),
            try exchange(server, Requests.get("/status?code=204")),
        ]
        for response in responses {
            guard let value = response.header("Date") else {
                Issue.record("no Date in a \(response.status) response: \(response.rawHead)")
                continue
            }
            guard let date = HTTPDate.parse(value) else {
                Issue.record("Date is not an IMF-fixdate: \(value.debugDescription)")
                continue
            }
            #expect(abs(date.timeIntervalSinceNow) < 120, "Date \(value) is not now")
        }
    }

    /// RFC 9110 10.1.1: a server that receives 100-continue in an HTTP/1.0 request MUST
    /// ignore that expectation.
    @Test(arguments: ServerMode.all)
    func expectationInHTTP10IsIgnored(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(
            server, "POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
        #expect(response.status == 200, "no 100 Continue to HTTP/1.0: \(response.statusLine)")
        #expect(response.bodyText == "hello")
    }

    /// RFC 9110 10.1.1: the 100-continue expectation is case-insensitive.
    @Test(arguments: ServerMode.all)
    func expectationIsCaseInsensitive(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nExpect: 100-Continue\r\n\r\n")
        let status = try client.readResponse().status
        #expect(status == 100)
        try client.send("ok")
        let body = try client.readResponse().bodyText
        #expect(body == "ok")
    }

    /// RFC 9110 10.1.1: an expectation other than 100-continue MAY get 417.
    @Test(arguments: ServerMode.all)
    func unknownExpectationGets417(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(
            server, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nExpect: 200-ok\r\n\r\nok")
        #expect(response.status == 417)
    }

    // MARK: Connection management (RFC 9112 section 9)

    /// RFC 9112 9.3: HTTP/1.1 connections persist by default.
    @Test(arguments: ServerMode.all)
    func http11ConnectionsPersistByDefault(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        for index in 0..<3 {
            try client.send(Requests.get("/request?n=\(index)"))
            let response = try client.readResponse()
            #expect(response.bodyText.contains("query=n=\(index)"))
            #expect(!response.saysClose)
        }
    }

    /// RFC 9112 9.3: an HTTP/1.0 connection closes after the response unless keep-alive
    /// was asked for.
    @Test(arguments: ServerMode.all)
    func http10ClosesByDefault(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send("GET / HTTP/1.0\r\n\r\n")
        let status = try client.readResponse().status
        #expect(status == 200)
        expectClosed(client)
    }

    /// RFC 9112 9.6 and RFC 9110 7.6.1: "close" (a case-insensitive option) makes the server
    /// close after its response, which SHOULD say close.
    @Test(arguments: ServerMode.all)
    func connectionCloseIsHonoured(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(Requests.get("/", "Connection: CLOSE\r\n") + Requests.get("/request?n=unanswered"))
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.saysClose, "\(response.rawHead)")
        expectClosed(client, "the request after Connection: close must not be answered")
    }

    /// RFC 9112 9.3.2: pipelined requests get their responses in the same order.
    @Test(arguments: ServerMode.all)
    func pipelinedResponsesComeInOrder(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(
            Requests.get("/slow?ms=100") + Requests.get("/request?n=1") + Requests.post("/echo", body: "x")
                + Requests.get("/request?n=3"))
        let responses = try client.readResponses(4)
        #expect(responses[0].bodyText == "slow done\n")
        #expect(responses[1].bodyText.contains("query=n=1"))
        #expect(responses[2].bodyText == "x")
        #expect(responses[3].bodyText.contains("query=n=3"))
    }
}
