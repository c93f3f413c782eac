import Foundation
import Testing

/// Input TLS has already taken from the socket is never announced by the poll: OpenSSL
/// reads ahead (conn.c's `transport_has_buffered_input`), and a record may hold more than
/// the 8 KiB read buffer takes. Each test sends its requests as one TLS record in one
/// write, so once the first read is done the socket is empty and everything left waits
/// in OpenSSL: a path that forgot it would leave the client waiting for answers.
@Suite(.concurrent) final class TLSBufferedInputTests: ServerSuite {
    static let modes = ServerMode.Dispatch.allCases.map { ServerMode($0, .tls) }

    /// A request head of exactly `size` bytes: `method`, `target`, Host, `fields` (each
    /// ended by CRLF), and a padding field that makes up the length.
    func paddedHead(_ method: String, _ target: String, _ fields: String = "", size: Int) -> String {
        let start = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\n\(fields)X-Pad: "
        return start + String(repeating: "p", count: size - start.utf8.count - 4) + "\r\n\r\n"
    }

    /// The read bound (READS_PER_WAKE, 16 full buffers per wake-up) reached with input left
    /// in OpenSSL: the resume list (an ev_check after the next poll) must read it. A head of
    /// 8,000 bytes stays in the 8 KiB buffer while the body goes through the 192 bytes left,
    /// so 16 reads take 8,192 + 15 × 192 bytes of the 12,000-byte request and the last
    /// 928 bytes of its body, then the pipelined requests, wait in OpenSSL.
    @Test(arguments: modes)
    func inputLeftInTLSAtTheReadBoundIsReadAfterThePoll(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server, timeout: 5)
        let bodySize = 4000
        let post = paddedHead("POST", "/body-info", "Content-Length: \(bodySize)\r\n", size: 8000)
        let pipelined = (1...5).map { Requests.get("/request?n=\($0)") }.joined()
        try client.send(
            Array(post.utf8) + [UInt8](repeating: UInt8(ascii: "b"), count: bodySize) + Array(pipelined.utf8))

        let answer = try client.readResponse()
        #expect(answer.status == 200)
        #expect(answer.bodyText.hasPrefix("length=\(bodySize) "), "\(answer.bodyText)")
        #expect(answer.bodyText.hasSuffix(" sum=\(bodySize * Int(UInt8(ascii: "b")))\n"), "\(answer.bodyText)")
        for (index, response) in try client.readResponses(5).enumerated() {
            #expect(response.bodyText.contains("target=/request?n=\(index + 1) "), "\(response.bodyText)")
        }
        expectStillOpen(client)
    }

    /// A record holding one request and the start of the next, longer together than the
    /// read buffer: after the first is answered (by an app thread or inline; with
    /// `largeAnswer`, 8 MiB to a client reading through a 4 KiB receive buffer, once the
    /// loop has flushed what the socket did not take) the rest of the second waits in
    /// OpenSSL, not in the socket.
    @Test(arguments: modes, [false, true])
    func aPipelinedRequestPartlyInTLSIsReadAfterTheAnswerBeforeIt(_ mode: ServerMode, largeAnswer: Bool) throws {
        let server = try startTestApp(mode)
        let client = try connect(server, timeout: 5, receiveBufferSize: largeAnswer ? 4096 : nil)
        let answerSize = 8 << 20
        let first = largeAnswer ? "/bytes?n=\(answerSize)" : "/request?n=0"
        try client.send(
            paddedHead("GET", first, size: 6000) + paddedHead("GET", "/request?n=1", size: 3000)
                + Requests.get("/request?n=2"))
        let responses = try client.readResponses(3)
        #expect(responses.allSatisfy { $0.status == 200 })
        if largeAnswer { #expect(responses[0].body.count == answerSize) }
        for index in (largeAnswer ? 1 : 0)..<3 {
            #expect(responses[index].bodyText.contains("target=/request?n=\(index) "), "\(responses[index].bodyText)")
        }
        expectStillOpen(client)
    }
}
