import Testing

/// What the engine does around the application's handler: a handler that throws, a
/// streamed body (chunked or close-delimited), a stream that fails midway, and a handler
/// trying response splitting.
@Suite(.concurrent) final class HandlerTests: ServerSuite {
    @Test(arguments: ServerMode.all)
    func throwingHandlerGets500AndServingGoesOn(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let failed = try exchange(server, Requests.get("/throw"))
        #expect(failed.status == 500, "\(failed.statusLine)")
        for index in 0..<3 {
            let next = try exchange(server, Requests.get("/request?n=\(index)"))
            #expect(next.status == 200, "a new connection after the 500")
            #expect(next.bodyText.contains("query=n=\(index)"))
        }
    }

    @Test(arguments: ServerMode.all)
    func streamIsChunkedOnHTTP11(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(Requests.get("/stream"))
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.framing == .chunked, "\(response.rawHead)")
        #expect(response.rawHead.contains("\r\nTransfer-Encoding: chunked\r\n"), "\(response.rawHead)")
        #expect(response.header("Content-Length") == nil)
        #expect(response.bodyText == "chunk 0\nchunk 1\nchunk 2\n")
        #expect(!response.saysClose)
        // The connection goes on after the last chunk.
        try client.send(Requests.get("/stream?chunks=5"))
        let body = try client.readResponse().bodyText
        #expect(body == ((0..<5).map { "chunk \($0)\n" }.joined()))
    }

    @Test(arguments: ServerMode.all)
    func streamIsCloseDelimitedOnHTTP10(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send("GET /stream HTTP/1.0\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.header("Transfer-Encoding") == nil, "never chunked to an HTTP/1.0 client: \(response.rawHead)")
        #expect(response.framing == .closeDelimited, "\(response.rawHead)")
        #expect(response.bodyText == "chunk 0\nchunk 1\nchunk 2\n")
        #expect(client.peerClosed)
    }

    @Test(arguments: ServerMode.all)
    func failingStreamIsCutWithoutLastChunk(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(Requests.get("/stream-throw"))
        do {
            let response = try client.readResponse()
            Issue.record("a failed stream must not end like a whole one: \(response.rawHead)\(response.bodyText)")
        } catch RawClient.Failure.closedEarly(_, let received) {
            #expect(
                String(decoding: received, as: UTF8.self).contains("partial"),
                "the part written before the failure: \(String(decoding: received, as: UTF8.self).debugDescription)")
        }
        #expect(client.peerClosed)
        // The worker goes on.
        let status = try exchange(server, Requests.get("/")).status
        #expect(status == 200)
    }

    @Test(arguments: ServerMode.all)
    func splitHeaderIsDropped(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(Requests.get("/split-header"))
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == "safe\n")
        #expect(response.header("Set-Cookie") == nil, "\(response.rawHead)")
        #expect(!response.rawHead.contains("evil"), "\(response.rawHead)")
        // The connection is still in step.
        try client.send(Requests.get("/"))
        let body = try client.readResponse().bodyText
        #expect(body == "Hello, World!")
    }

    /// A field value with CR, LF or NUL anywhere in it is dropped; other bytes below 0x20
    /// (HTAB, and control bytes a sender should not send but the engine passes on) are kept.
    /// Every position of a 24-byte value: the engine checks eight bytes at a time, then the
    /// rest one by one (respond.c, valid_value).
    @Test(arguments: [(0, false), (10, false), (13, false), (9, true), (1, true), (12, true), (31, true)])
    func fieldValuesWithLineBreaksAreDroppedAtEveryPosition(byte: Int, kept: Bool) throws {
        let server = try startTestApp(ServerMode(.inline, .tcp))
        let client = try connect(server)
        for length in [7, 24] {
            for at in 0..<length {
                try client.send(Requests.get("/value-byte?byte=\(byte)&at=\(at)&length=\(length)"))
                let response = try client.readResponse()
                #expect(response.bodyText == "probe\n")
                var expected = [UInt8](repeating: UInt8(ascii: "v"), count: length)
                expected[at] = UInt8(byte)
                let probe = response.rawHead.split(separator: "\r\n").first { $0.hasPrefix("X-Probe: ") }
                #expect(
                    probe.map { Array($0.utf8.dropFirst(9)) } == (kept ? expected : nil),
                    "byte \(byte) at \(at) of \(length): \(response.rawHead.debugDescription)")
            }
        }
    }
}
