import XCTest

/// Malformed requests get one 400 and the connection closes: a valid request sent right
/// behind the bad one, in the same write, is never answered. Then request smuggling: a
/// request hidden in an ambiguous body must never get a response of its own.
class MalformedInputTestCase: ServerTestCase {
    func garbageRequestLine() throws {
        let server = try startTestApp()
        try expectRejectedWith400(server, "this is not http\r\n\r\n")
        try expectRejectedWith400(
            server, [0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 13, 10, 13, 10])
    }

    func spaceInsideFieldName() throws {
        let server = try startTestApp()
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nHo st: x\r\n\r\n")
    }

    func whitespaceBetweenFieldNameAndColon() throws {
        let server = try startTestApp()
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost : localhost\r\n\r\n")
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nX-A\t: 1\r\n\r\n")
    }

    func obsoleteLineFolding() throws {
        let server = try startTestApp()
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n b\r\n\r\n")
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n\tb\r\n\r\n")
    }

    func missingHostOnHTTP11() throws {
        let server = try startTestApp()
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n")
    }

    func twoHostFields() throws {
        let server = try startTestApp()
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n")
        try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n")
    }

    func contentLengthWithTransferEncoding() throws {
        let server = try startTestApp()
        try expectRejectedWith400(
            server,
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "0\r\n\r\n")
    }

    func twoDifferentContentLengths() throws {
        let server = try startTestApp()
        try expectRejectedWith400(
            server, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
    }

    func badChunkSize() throws {
        let server = try startTestApp()
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
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let client = try connect(server)
        try client.send(request)
        let first: HTTPResponseMessage
        do {
            first = try client.readResponse(to: request.hasPrefix("HEAD") ? "HEAD" : "GET", file: file, line: line)
        } catch {
            XCTFail("\(name): no response at all: \(error)", file: file, line: line)
            return
        }
        XCTAssertFalse(
            first.bodyText.contains("smuggled"), "\(name): the hidden request was answered", file: file, line: line)
        if mustClose {
            // Whatever arrives before the close would be a second response.
            let (closed, more) = client.waitForClose(timeout: 5)
            XCTAssertEqual(
                more.count, 0,
                "\(name): a second response after \(first.statusLine): \(String(decoding: more.prefix(400), as: UTF8.self).debugDescription)",
                file: file, line: line)
            XCTAssertTrue(
                closed, "\(name): the server must close the connection after \(first.statusLine)", file: file,
                line: line)
            return
        }
        // The connection may stay open (the outer request was valid one way). A sentinel
        // request then must get the next response: a response to the hidden request would
        // come before it.
        if client.peerClosed { return }
        try? client.send(Requests.get("/request?sentinel=1"))
        do {
            let next = try client.readResponse(timeout: 5, file: file, line: line)
            XCTAssertTrue(
                next.bodyText.contains("sentinel"),
                "\(name): a second response after \(first.statusLine): \(next.statusLine) \(next.bodyText.debugDescription)",
                file: file, line: line)
        } catch RawClient.Failure.closedEarly(_, let received) {
            XCTAssertEqual(
                received.count, 0,
                "\(name): a partial second response: \(String(decoding: received.prefix(400), as: UTF8.self).debugDescription)",
                file: file, line: line)
        } catch RawClient.Failure.timedOut(_, let received) {
            XCTAssertFalse(
                String(decoding: received, as: UTF8.self).contains("smuggled"),
                "\(name): the hidden request was answered",
                file: file, line: line)
        }
    }

    func smugglingContentLengthThenTransferEncoding() throws {
        let server = try startTestApp()
        let body = "0\r\n\r\n" + Self.hidden
        let request =
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n\(body)"
        try expectNoSmuggling(server, "CL.TE", request, mustClose: true)
    }

    func smugglingTransferEncodingThenContentLength() throws {
        let server = try startTestApp()
        let chunk = String(Self.hidden.utf8.count, radix: 16)
        let request =
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
            + "\(chunk)\r\n\(Self.hidden)\r\n0\r\n\r\n"
        try expectNoSmuggling(server, "TE.CL", request, mustClose: true)
    }

    func smugglingObfuscatedTransferEncoding() throws {
        let server = try startTestApp()
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

    func smugglingContentLengthVariants() throws {
        let server = try startTestApp()
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

    func smugglingInHTTP10TransferEncoding() throws {
        // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing; the
        // server must close the connection after it.
        let server = try startTestApp()
        let body = "0\r\n\r\n" + Self.hidden
        let request =
            "POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n\(body)"
        try expectNoSmuggling(server, "HTTP/1.0 with Transfer-Encoding", request, mustClose: true)
    }

    func smugglingBodyOfGetAndHead() throws {
        // A body on GET is framed like any other: the hidden request is the body.
        let server = try startTestApp()
        for method in ["GET", "HEAD"] {
            let request =
                "\(method) /request HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(Self.hidden.utf8.count)\r\n\r\n"
                + Self.hidden
            try expectNoSmuggling(server, "\(method) with a body", request, mustClose: false)
        }
    }
}

final class MalformedInputPoolTests: MalformedInputTestCase {
    override class var threads: Int { 5 }
    func testGarbageRequestLine() throws { try garbageRequestLine() }
    func testSpaceInsideFieldName() throws { try spaceInsideFieldName() }
    func testWhitespaceBetweenFieldNameAndColon() throws { try whitespaceBetweenFieldNameAndColon() }
    func testObsoleteLineFolding() throws { try obsoleteLineFolding() }
    func testMissingHostOnHTTP11() throws { try missingHostOnHTTP11() }
    func testTwoHostFields() throws { try twoHostFields() }
    func testContentLengthWithTransferEncoding() throws { try contentLengthWithTransferEncoding() }
    func testTwoDifferentContentLengths() throws { try twoDifferentContentLengths() }
    func testBadChunkSize() throws { try badChunkSize() }
    func testSmugglingContentLengthThenTransferEncoding() throws { try smugglingContentLengthThenTransferEncoding() }
    func testSmugglingTransferEncodingThenContentLength() throws { try smugglingTransferEncodingThenContentLength() }
    func testSmugglingObfuscatedTransferEncoding() throws { try smugglingObfuscatedTransferEncoding() }
    func testSmugglingContentLengthVariants() throws { try smugglingContentLengthVariants() }
    func testSmugglingInHTTP10TransferEncoding() throws { try smugglingInHTTP10TransferEncoding() }
    func testSmugglingBodyOfGetAndHead() throws { try smugglingBodyOfGetAndHead() }
}

final class MalformedInputInlineTests: MalformedInputTestCase {
    override class var threads: Int { 0 }
    func testGarbageRequestLine() throws { try garbageRequestLine() }
    func testSpaceInsideFieldName() throws { try spaceInsideFieldName() }
    func testWhitespaceBetweenFieldNameAndColon() throws { try whitespaceBetweenFieldNameAndColon() }
    func testObsoleteLineFolding() throws { try obsoleteLineFolding() }
    func testMissingHostOnHTTP11() throws { try missingHostOnHTTP11() }
    func testTwoHostFields() throws { try twoHostFields() }
    func testContentLengthWithTransferEncoding() throws { try contentLengthWithTransferEncoding() }
    func testTwoDifferentContentLengths() throws { try twoDifferentContentLengths() }
    func testBadChunkSize() throws { try badChunkSize() }
    func testSmugglingContentLengthThenTransferEncoding() throws { try smugglingContentLengthThenTransferEncoding() }
    func testSmugglingTransferEncodingThenContentLength() throws { try smugglingTransferEncodingThenContentLength() }
    func testSmugglingObfuscatedTransferEncoding() throws { try smugglingObfuscatedTransferEncoding() }
    func testSmugglingContentLengthVariants() throws { try smugglingContentLengthVariants() }
    func testSmugglingInHTTP10TransferEncoding() throws { try smugglingInHTTP10TransferEncoding() }
    func testSmugglingBodyOfGetAndHead() throws { try smugglingBodyOfGetAndHead() }
}
