import Testing

/// What the server does not implement: transfer codings other than chunked (501) and
/// HTTP versions other than 1.x (505).
@Suite(.concurrent) final class UnsupportedRequestTests: ServerSuite {
    @Test(arguments: ServerMode.all)
    func gzipTransferCodingGets501(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        // The body cannot be framed without decoding gzip: answer, then close.
        try expectStatusThenClose(
            server,
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            status: 501)
    }

    @Test(arguments: ServerMode.all)
    func http2RequestLineGets505(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(server, "GET / HTTP/2.0\r\nHost: localhost\r\n\r\n")
        #expect(response.status == 505, "\(response.statusLine)")
    }

    @Test(arguments: ServerMode.all)
    func http3RequestLineGets505(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let response = try exchange(server, "GET / HTTP/3.0\r\nHost: localhost\r\n\r\n")
        #expect(response.status == 505, "\(response.statusLine)")
    }
}
