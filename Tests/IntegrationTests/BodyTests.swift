import Testing

/// Request bodies: Content-Length and chunked framing, `Expect: 100-continue`, and a body
/// too big for memory.
@Suite(.concurrent) final class BodyTests: ServerSuite {
    @Test(arguments: ServerMode.all)
    func contentLengthBodyEchoed(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(Requests.post("/echo", body: "hello world", "Content-Type: text/plain\r\n"))
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == "hello world")
        #expect(response.header("Content-Type") == "text/plain")

        // Every byte value survives, on the same connection.
        let binary = [UInt8]((0...255).map { UInt8($0) }) + [UInt8]((0...255).reversed().map { UInt8($0) })
        try client.send(
            Array("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(binary.count)\r\n\r\n".utf8) + binary)
        let echoed = try client.readResponse()
        #expect(echoed.status == 200)
        #expect(echoed.body == binary)
    }

    @Test(arguments: ServerMode.all)
    func chunkedUploadWithExtensionsAndTrailers(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(
            "POST /trailers HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                + "5;ext=value\r\nhello\r\n"
                + "6;name=\"quoted; value\";flag\r\n world\r\n"
                + "0;last=1\r\nX-Checksum: abc123\r\nX-Other:  spaced  \r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        let lines = response.bodyText.split(separator: "\n").map { String($0) }
        #expect(lines.first == "body=hello world", "\(response.bodyText)")
        let trailers = Set(lines.dropFirst().map { $0.lowercased() })
        #expect(trailers.contains("x-checksum: abc123"), "\(response.bodyText)")
        #expect(trailers.contains("x-other: spaced"), "\(response.bodyText)")
        #expect(trailers.count == 2, "only the two trailer fields: \(response.bodyText)")
        // The connection is still usable: the body ended where the chunked framing said.
        try client.send(Requests.get("/"))
        let body = try client.readResponse().bodyText
        #expect(body == "Hello, World!")
    }

    @Test(arguments: ServerMode.all)
    func expect100ContinueBeforeFinalResponse(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                + "Expect: 100-continue\r\n\r\n")
        let interim = try client.readResponse()
        #expect(interim.statusLine == "HTTP/1.1 100 Continue")
        try client.send("hello")
        let final = try client.readResponse()
        #expect(final.status == 200)
        #expect(final.bodyText == "hello")
    }

    @Test(arguments: ServerMode.all)
    func expect100ContinueOverMaxBodySizeGets413(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--max-body-size", "1k"])
        let client = try connect(server)
        try client.send(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000\r\nExpect: 100-continue\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 413, "a body over the limit is refused before 100 Continue: \(response.statusLine)")
        expectClosed(client, "after 413")
    }

    @Test(arguments: ServerMode.all)
    func unknownExpectationGets417(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        try client.send(
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: something-else\r\n\r\nhello")
        let response = try client.readResponse()
        #expect(response.status == 417, "\(response.statusLine)")
    }

    /// 100 MiB through the loopback and onto disk: the machine to itself.
    @Test(.exclusive, arguments: ServerMode.all)
    func hundredMebibyteUploadIsSpooledToDisk(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--max-body-size", "200m"])
        let client = try connect(server, timeout: 30)
        let total = 100 << 20
        let piece = [UInt8]((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let pieceSum = piece.reduce(UInt64(0)) { $0 + UInt64($1) }
        try client.send("POST /body-info HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(total)\r\n\r\n")
        for _ in 0..<(total / piece.count) { try client.send(piece) }
        let response = try client.readResponse(timeout: 90)
        #expect(response.status == 200)
        #expect(
            response.bodyText == "length=104857600 memory=false sum=\(pieceSum * 100)\n",
            "the body must arrive whole and be spooled to a file")
        let peak = server.peakResidentKiB
        #expect(peak > 0, "VmHWM of the server could not be read")
        #expect(peak < (60 << 10), "peak RSS of the server \(peak) KiB after a 100 MiB upload")
    }
}
