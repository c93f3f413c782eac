import Testing

/// Persistent connections (RFC 9112 section 9.3): when a connection stays open, when it
/// closes, and `--max-keepalive-requests`.
@Suite(.concurrent) final class KeepAliveTests: ServerSuite {
    @Test(arguments: ServerMode.all)
    func severalRequestsOnOneConnection(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        for index in 0..<5 {
            try client.send(Requests.get("/request?n=\(index)"))
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText.contains("query=n=\(index)"), "\(response.bodyText)")
            #expect(!response.saysClose, "request \(index) of 5: \(response.rawHead)")
        }
        expectStillOpen(client)
    }

    @Test(arguments: ServerMode.all)
    func http10WithoutKeepAliveClosesAfterResponse(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send("GET / HTTP/1.0\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == "Hello, World!")
        #expect(!response.tokens("Connection").contains("keep-alive"), "\(response.rawHead)")
        expectClosed(client, "an HTTP/1.0 request without keep-alive")
    }

    @Test(arguments: ServerMode.all)
    func http10WithKeepAliveStaysOpen(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        for index in 0..<2 {
            try client.send("GET /request?n=\(index) HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText.contains("query=n=\(index)"), "\(response.bodyText)")
            #expect(response.tokens("Connection").contains("keep-alive"), "\(response.rawHead)")
            #expect(response.header("Content-Length") != nil, "a kept-alive HTTP/1.0 response needs a length")
        }
        expectStillOpen(client)
    }

    @Test(arguments: ServerMode.all)
    func clientConnectionCloseCloses(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(Requests.get("/", "Connection: close\r\n"))
        let response = try client.readResponse()
        #expect(response.status == 200)
        // RFC 9112 9.6: the server SHOULD send "close" in its final response.
        #expect(response.saysClose, "\(response.rawHead)")
        expectClosed(client, "the client sent Connection: close")
    }

    @Test(arguments: ServerMode.all)
    func maxKeepaliveRequestsClosesAfterTheLast(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--max-keepalive-requests", "3"])
        let client = try connect(server)
        for index in 1...3 {
            try client.send(Requests.get("/request?n=\(index)"))
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText.contains("query=n=\(index)"), "\(response.bodyText)")
            if index < 3 {
                #expect(!response.saysClose, "response \(index) of 3: \(response.rawHead)")
            } else {
                #expect(response.saysClose, "the 3rd response must say Connection: close: \(response.rawHead)")
            }
        }
        expectClosed(client, "after --max-keepalive-requests 3")
    }
}
