// RFC 9110 section 5.5: OWS (SP and HTAB) before and after a field value is not part of
// it. Every field the parser interprets must be read trimmed, whatever mix of spaces and
// tabs surrounds it, and around the members of list-valued fields (RFC 9110 5.6.1).
// Each case is parsed whole, split at every byte and byte by byte (`parse`).

import CRaptor
import Testing

/// Whitespace put before and after a value: spaces, tabs and both.
private let paddings = [" ", "  ", "\t", "\t\t", " \t", "\t ", " \t \t"]

@Suite struct FieldWhitespaceTests {
    private func parsed(_ request: String) -> Snapshot {
        let outcome = parse(request)
        #expect(outcome.mismatch == nil, "\(request.debugDescription)")
        return outcome.whole
    }

    // RFC 9112 9.6: the "close" connection option ends the connection after the response.
    @Test(arguments: paddings)
    func connectionCloseIsRead(padding: String) {
        let s = parsed("GET / HTTP/1.1\r\n\(host)Connection:\(padding)close\(padding)\r\n\r\n")
        #expect(s.complete)
        #expect(!s.keepAlive)
        #expect(s.fields.last == ["Connection", "close"])
    }

    // RFC 9110 7.6.1: Connection = #connection-option; OWS around each member.
    @Test(arguments: paddings)
    func connectionCloseAmongOtherOptions(padding: String) {
        let s = parsed("GET / HTTP/1.1\r\n\(host)Connection:\(padding)te\(padding),\(padding)CLOSE\(padding)\r\n\r\n")
        #expect(s.complete)
        #expect(!s.keepAlive)
    }

    // RFC 9112 9.3: an HTTP/1.0 connection persists only with the keep-alive option.
    @Test(arguments: paddings)
    func connectionKeepAliveOnHTTP10(padding: String) {
        let s = parsed("GET / HTTP/1.0\r\nConnection:\(padding)keep-alive\(padding)\r\n\r\n")
        #expect(s.complete)
        #expect(s.keepAlive)
    }

    // RFC 9110 8.6: Content-Length = 1*DIGIT, read after trimming.
    @Test(arguments: paddings)
    func contentLengthIsRead(padding: String) {
        let s = parsed("POST / HTTP/1.1\r\n\(host)Content-Length:\(padding)5\(padding)\r\n\r\nhello")
        #expect(s.complete)
        #expect(s.contentLength == 5)
        #expect(s.body == bytes("hello"))
    }

    // Whitespace only is an empty Content-Length: 400.
    @Test(arguments: paddings)
    func contentLengthOfWhitespaceOnly(padding: String) {
        let s = parsed("POST / HTTP/1.1\r\n\(host)Content-Length:\(padding)\r\n\r\n")
        #expect(s.failed)
        #expect(s.status == 400)
    }

    // RFC 9112 6.1: chunked, read after trimming.
    @Test(arguments: paddings)
    func transferEncodingChunkedIsRead(padding: String) {
        let s = parsed(
            "POST / HTTP/1.1\r\n\(host)Transfer-Encoding:\(padding)chunked\(padding)\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        #expect(s.complete)
        #expect(s.chunked)
        #expect(s.body == bytes("hello"))
    }

    // RFC 9112 6.1: a list of codings; OWS around each member.
    @Test(arguments: paddings)
    func transferEncodingListMembers(padding: String) {
        let head = "POST / HTTP/1.1\r\n\(host)Transfer-Encoding:\(padding)"
        let unknown = parsed(head + "gzip\(padding),\(padding)chunked\(padding)\r\n\r\n0\r\n\r\n")
        #expect(unknown.status == 501)
        let twice = parsed(head + "chunked\(padding),\(padding)chunked\r\n\r\n0\r\n\r\n")
        #expect(twice.status == 400)
    }

    // RFC 9110 10.1.1: Expect = #expectation.
    @Test(arguments: paddings)
    func expectContinueIsRead(padding: String) {
        let s = parsed(
            "POST / HTTP/1.1\r\n\(host)Expect:\(padding)100-continue\(padding)\r\nContent-Length: 2\r\n\r\nok")
        #expect(s.complete)
        #expect(s.sawContinue)
        #expect(s.expectContinue)
        let other = parsed("POST / HTTP/1.1\r\n\(host)Expect:\(padding)100-continue\(padding),\(padding)x\r\n\r\n")
        #expect(other.status == 417)
    }

    // RFC 9110 7.2: Host = uri-host [ ":" port ], read after trimming.
    @Test(arguments: paddings)
    func hostIsRead(padding: String) {
        let s = parsed("GET / HTTP/1.1\r\nHost:\(padding)example.com:8080\(padding)\r\n\r\n")
        #expect(s.complete)
        #expect(s.fields == [["Host", "example.com:8080"]])
        let empty = parsed("GET / HTTP/1.1\r\nHost:\(padding)\r\n\r\n")
        #expect(empty.complete)
        let bad = parsed("GET / HTTP/1.1\r\nHost:\(padding)a b\(padding)\r\n\r\n")
        #expect(bad.status == 400)
    }

    // RFC 9110 7.8: Upgrade with the "upgrade" connection option ends the HTTP/1.1 exchange.
    @Test(arguments: paddings)
    func upgradeIsRead(padding: String) {
        let s = parsed(
            "GET / HTTP/1.1\r\n\(host)Upgrade:\(padding)websocket\(padding)\r\n"
                + "Connection:\(padding)keep-alive\(padding),\(padding)Upgrade\(padding)\r\n\r\n")
        #expect(s.complete)
        #expect(s.upgrade)
        let empty = parsed("GET / HTTP/1.1\r\n\(host)Upgrade:\(padding)\r\nConnection: upgrade\r\n\r\n")
        #expect(empty.complete)
        #expect(!empty.upgrade)
    }
}
