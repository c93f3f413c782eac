import XCTest

/// What the server does not implement: transfer codings other than chunked (501) and
/// HTTP versions other than 1.x (505).
class UnsupportedRequestTestCase: ServerTestCase {
    func gzipTransferCodingGets501() throws {
        let server = try startTestApp()
        // The body cannot be framed without decoding gzip: answer, then close.
        try expectStatusThenClose(
            server,
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            status: 501)
    }

    func http2RequestLineGets505() throws {
        let server = try startTestApp()
        let response = try exchange(server, "GET / HTTP/2.0\r\nHost: localhost\r\n\r\n")
        XCTAssertEqual(response.status, 505, response.statusLine)
    }

    func http3RequestLineGets505() throws {
        let server = try startTestApp()
        let response = try exchange(server, "GET / HTTP/3.0\r\nHost: localhost\r\n\r\n")
        XCTAssertEqual(response.status, 505, response.statusLine)
    }
}

final class UnsupportedRequestPoolTests: UnsupportedRequestTestCase {
    override class var threads: Int { 5 }
    func testGzipTransferCodingGets501() throws { try gzipTransferCodingGets501() }
    func testHTTP2RequestLineGets505() throws { try http2RequestLineGets505() }
    func testHTTP3RequestLineGets505() throws { try http3RequestLineGets505() }
}

final class UnsupportedRequestInlineTests: UnsupportedRequestTestCase {
    override class var threads: Int { 0 }
    func testGzipTransferCodingGets501() throws { try gzipTransferCodingGets501() }
    func testHTTP2RequestLineGets505() throws { try http2RequestLineGets505() }
    func testHTTP3RequestLineGets505() throws { try http3RequestLineGets505() }
}
