import Testing

/// RFC 9110 section 5.5: OWS (SP and HTAB) before and after a field value is not part of
/// it; RFC 9110 5.6.1: nor around the members of a list. One test per field the server
/// itself reads, over the wire, each value padded with spaces, tabs and both (issue 9).
@Suite(.concurrent) final class FieldWhitespaceTests: ServerSuite {
    /// What goes before and after each value.
    let paddings = ["\t", "  ", " \t ", "\t\t"]

    /// RFC 9112 9.6: "close" ends the connection after the response.
    @Test(arguments: ServerMode.all)
    func connectionCloseIsRead(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        for padding in paddings {
            let client = try connect(server)
            try client.send(Requests.get("/", "Connection:\(padding)close\(padding)\r\n"))
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.saysClose, "\(padding.debugDescription): \(response.rawHead)")
            expectClosed(client, "Connection: close padded with \(padding.debugDescription)")
        }
    }

    /// RFC 9112 9.3: an HTTP/1.0 connection persists with the keep-alive option, a member
    /// of a list like any other.
    @Test(arguments: ServerMode.all)
    func connectionKeepAliveIsRead(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        for padding in paddings {
            let client = try connect(server)
            let field = "Connection:\(padding)foo\(padding),\(padding)keep-alive\(padding)\r\n"
            try client.send("GET /request?n=1 HTTP/1.0\r\n\(field)\r\n" + "GET /request?n=2 HTTP/1.0\r\n\(field)\r\n")
            let responses = try client.readResponses(2)
            #expect(responses.map(\.status) == [200, 200], "\(padding.debugDescription)")
            #expect(responses[1].bodyText.contains("query=n=2"), "\(responses[1].bodyText)")
            #expect(responses[1].tokens("Connection").contains("keep-alive"), "\(responses[1].rawHead)")
            #expect(!client.peerClosed)
        }
    }

    /// RFC 9110 8.6: the body is as long as the trimmed value says; the request after it
    /// on the same connection is read from the right byte.
    @Test(arguments: ServerMode.all)
    func contentLengthIsRead(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        for padding in paddings {
            let client = try connect(server)
            try client.send(
                "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length:\(padding)5\(padding)\r\n\r\nhello"
                    + Requests.get("/request?n=after"))
            let responses = try client.readResponses(2)
            #expect(responses.map(\.status) == [200, 200], "\(padding.debugDescription)")
            #expect(responses[0].bodyText == "hello")
            #expect(responses[1].bodyText.contains("query=n=after"), "\(responses[1].bodyText)")
        }
    }

    /// RFC 9112 6.1: chunked, and a list of codings, read trimmed.
    @Test(arguments: ServerMode.all)
    func transferEncodingIsRead(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        for padding in paddings {
            let client = try connect(server)
            try client.send(
                "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:\(padding)chunked\(padding)\r\n\r\n"
                    + "5\r\nhello\r\n0\r\n\r\n" + Requests.get("/request?n=after"))
            let responses = try client.readResponses(2)
            #expect(responses.map(\.status) == [200, 200], "\(padding.debugDescription)")
            #expect(responses[0].bodyText == "hello")
            #expect(responses[1].bodyText.contains("query=n=after"), "\(responses[1].bodyText)")
            // A coding before chunked is read as one: 501, not a malformed field (400).
            try expectStatusThenClose(
                server,
                "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:\(padding)gzip\(padding),"
                    + "\(padding)chunked\(padding)\r\n\r\n0\r\n\r\n", status: 501)
        }
    }

    /// RFC 9110 10.1.1: 100-continue, read trimmed, gets 100 Continue before the body.
    @Test(arguments: ServerMode.all)
    func expectIsRead(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        for padding in paddings {
            let client = try connect(server)
            try client.send(
                "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n"
                    + "Expect:\(padding)100-continue\(padding)\r\n\r\n")
            let interim = try client.readResponse()
            #expect(interim.statusLine == "HTTP/1.1 100 Continue", "\(padding.debugDescription)")
            try client.send("ok")
            let body = try client.readResponse().bodyText
            #expect(body == "ok")
        }
    }

    /// RFC 9110 7.2: Host is checked and seen without its padding.
    @Test(arguments: ServerMode.all)
    func hostIsRead(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        for padding in paddings {
            let response = try exchange(
                server, "GET /header-values?name=host HTTP/1.1\r\nHost:\(padding)example.com:8080\(padding)\r\n\r\n")
            #expect(response.status == 200, "\(padding.debugDescription)")
            #expect(response.bodyText == "example.com:8080\n")
            try expectRejectedWith400(server, "GET / HTTP/1.1\r\nHost:\(padding)a b\(padding)\r\n\r\n")
        }
    }

    /// RFC 9110 7.8: Upgrade with the upgrade connection option (a list member) ends the
    /// HTTP/1.1 exchange: the request is answered, then the connection closes.
    @Test(arguments: ServerMode.all)
    func upgradeIsRead(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        for padding in paddings {
            let client = try connect(server)
            let upgrade = "Upgrade:\(padding)websocket\(padding)\r\n"
            let connection = "Connection:\(padding)keep-alive\(padding),\(padding)Upgrade\(padding)\r\n"
            try client.send(Requests.get("/", upgrade + connection))
            let status = try client.readResponse().status
            #expect(status == 200, "\(padding.debugDescription)")
            expectClosed(client, "Upgrade padded with \(padding.debugDescription)")
        }
    }

    /// RFC 9112 7.1.1: BWS before a chunk extension may be HTAB as well as SP.
    @Test(arguments: ServerMode.all)
    func chunkExtensionAfterTabIsRead(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5\t;a=b\r\nhello\r\n1 \t ;c\r\n!\r\n0\t;d=\"e\"\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == "hello!")
    }
}
