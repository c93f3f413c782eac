import Testing

/// Malformed requests get one 400 and the connection closes: a valid request sent right
/// behind the bad one, in the same write, is never answered. Then request smuggling: a
/// request hidden in an ambiguous body must never get a response of its own.
@Suite(.concurrent) final class MalformedInputTests: ServerSuite {
    @Test(arguments: ServerMode.all)
    func garbageRequestLine(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "this is not http\r\n\r\n")
        try expectRejectedWith400(
            server, [0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 13, 10, 13, 10])
    }

    @Test(arguments: ServerMode.all)
    func spaceInsideFieldName(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nHo st: x\r\n\r\n")
    }

    @Test(arguments: ServerMode.all)
    func whitespaceBetweenFieldNameAndColon(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost : localhost\r\n\r\n")
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nX-A\t: 1\r\n\r\n")
    }

    @Test(arguments: ServerMode.all)
    func obsoleteLineFolding(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n b\r\n\r\n")
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n\tb\r\n\r\n")
    }

    @Test(arguments: ServerMode.all)
    func missingHostOnHTTP11(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n")
    }

    @Test(arguments: ServerMode.all)
    func twoHostFields(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n")
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n")
    }

    @Test(arguments: ServerMode.all)
    func contentLengthWithTransferEncoding(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(
            server,
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "0\r\n\r\n")
    }

    @Test(arguments: ServerMode.all)
    func twoDifferentContentLengths(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        try expectRejectedWith400(
            server, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
    }

    @Test(arguments: ServerMode.all)
    func badChunkSize(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        for size in ["zz", "-5", "5 5", ""] {
            try expectRejectedWith400(
                server,
                "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\(size)\r\nhello\r\n0\r\n\r\n"
            )
        }
    }

    // MARK: Smuggling

    static let hidden = "GET /request?smuggled=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"

    /// Sends `request` (an outer request whose body, read one way, is `hidden`) and asserts
    /// exactly one response comes back, that nothing ever answers the hidden request, and
    /// (when `mustClose`) that the server closes the connection.
    func expectNoSmuggling(
        _ server: ServerProcess, _ name: String, _ request: String, mustClose: Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let client = try connect(server)
        try client.send(request)
        let first: HTTPResponseMessage
        do {
            first = try client.readResponse(
                to: request.hasPrefix("HEAD") ? "HEAD" : "GET", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(name): no response at all: \(error)", sourceLocation: sourceLocation)
            return
        }
        #expect(
            !first.bodyText.contains("smuggled"), "\(name): the hidden request was answered",
            sourceLocation: sourceLocation)
        if mustClose {
            // Whatever arrives before the close would be a second response.
            let (closed, more) = client.waitForClose(timeout: 5)
            #expect(
                more.count == 0,
                "\(name): a second response after \(first.statusLine): \(String(decoding: more.prefix(400), as: UTF8.self).debugDescription)",
                sourceLocation: sourceLocation)
            #expect(
                closed, "\(name): the server must close the connection after \(first.statusLine)",
                sourceLocation: sourceLocation)
            return
        }
        // The connection may stay open (the outer request was valid one way). A sentinel
        // request then must get the next response: a response to the hidden request would
        // come before it.
        if client.peerClosed { return }
        try? client.send(Requests.get("/request?sentinel=1"))
        do {
            let next = try client.readResponse(timeout: 5, sourceLocation: sourceLocation)
            #expect(
                next.bodyText.contains("sentinel"),
                "\(name): a second response after \(first.statusLine): \(next.statusLine) \(next.bodyText.debugDescription)",
                sourceLocation: sourceLocation)
        } catch RawClient.Failure.closedEarly(_, let received) {
            #expect(
                received.count == 0,
                "\(name): a partial second response: \(String(decoding: received.prefix(400), as: UTF8.self).debugDescription)",
                sourceLocation: sourceLocation)
        } catch RawClient.Failure.timedOut(_, let received) {
            #expect(
                !String(decoding: received, as: UTF8.self).contains("smuggled"),
                "\(name): the hidden request was answered", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: ServerMode.all)
    func smugglingContentLengthThenTransferEncoding(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let body = "0\r\n\r\n" + Self.hidden
        let request =
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n\(body)"
        try expectNoSmuggling(server, "CL.TE", request, mustClose: true)
    }

    @Test(arguments: ServerMode.all)
    func smugglingTransferEncodingThenContentLength(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let chunk = String(Self.hidden.utf8.count, radix: 16)
        let request =
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
            + "\(chunk)\r\n\(Self.hidden)\r\n0\r\n\r\n"
        try expectNoSmuggling(server, "TE.CL", request, mustClose: true)
    }

    @Test(arguments: ServerMode.all)
    func smugglingObfuscatedTransferEncoding(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let body = "0\r\n\r\n" + Self.hidden
        let variants: [(String, String)] = [
            ("space before colon", "Transfer-Encoding : chunked\r\n"),
            ("unknown coding", "Transfer-Encoding: xchunked\r\n"),
            ("chunked then identity", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"),
            ("folded value", "Transfer-Encoding:\r\n chunked\r\n"),
            ("bare CR before it", "X-Pad: a\rTransfer-Encoding: chunked\r\n"),
            ("NUL after the value", "Transfer-Encoding: chunked\u{0}\r\n"),
            ("vertical tab", "Transfer-Encoding:\u{0B}chunked\r\n"),
            ("quoted", "Transfer-Encoding: \"chunked\"\r\n"),
        ]
        for (name, field) in variants {
            let request =
                "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.utf8.count)\r\n\(field)\r\n\(body)"
            try expectNoSmuggling(server, name, request, mustClose: true)
        }
    }

    @Test(arguments: ServerMode.all)
    func smugglingContentLengthVariants(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let length = Self.hidden.utf8.count
        let variants: [(String, String)] = [
            ("plus sign", "Content-Length: +\(length)\r\n"),
            ("list of equal values", "Content-Length: \(length), \(length)\r\n"),
            ("hexadecimal", "Content-Length: 0x\(String(length, radix: 16))\r\n"),
            ("trailing garbage", "Content-Length: \(length)abc\r\n"),
            ("space inside", "Content-Length: \(length / 10) \(length % 10)\r\n"),
            ("overflow", "Content-Length: 18446744073709551616\r\n"),
            ("second one empty", "Content-Length: \(length)\r\nContent-Length: \r\n"),
        ]
        for (name, field) in variants {
            let request = "POST /echo HTTP/1.1\r\nHost: localhost\r\n\(field)\r\n\(Self.hidden)"
            try expectNoSmuggling(server, name, request, mustClose: false)
        }
    }

    @Test(arguments: ServerMode.all)
    func smugglingInHTTP10TransferEncoding(_ mode: ServerMode) throws {
        // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing; the
        // server must close the connection after it.
        let server = try startTestApp(mode)
        let body = "0\r\n\r\n" + Self.hidden
        let request =
            "POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n\(body)"
        try expectNoSmuggling(server, "HTTP/1.0 with Transfer-Encoding", request, mustClose: true)
    }

    @Test(arguments: ServerMode.all)
    func smugglingBodyOfGetAndHead(_ mode: ServerMode) throws {
        // A body on GET is framed like any other: the hidden request is the body.
        let server = try startTestApp(mode)
        for method in ["GET", "HEAD"] {
            let request =
                "\(method) /request HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(Self.hidden.utf8.count)\r\n\r\n"
                + Self.hidden
            try expectNoSmuggling(server, "\(method) with a body", request, mustClose: false)
        }
    }
}
