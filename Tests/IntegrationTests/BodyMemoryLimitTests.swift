import Foundation
import Testing

/// --body-memory-limit: a body up to the limit stays in memory, one byte more is spooled
/// to a file, at the configured value (not only the 1 MiB default), whether its length is
/// announced (Content-Length) or found as it arrives (chunked).
@Suite(.concurrent) final class BodyMemoryLimitTests: ServerSuite {
    static let limit = 8192

    /// The /body-info answer for a body of `length` bytes of "A" (65), sent as `framing`.
    func bodyInfo(_ client: RawClient, length: Int, chunked: Bool) throws -> String {
        let body = String(repeating: "A", count: length)
        if chunked {
            // In 1000-byte chunks: the limit is crossed while the body arrives.
            var chunks = ""
            var rest = Substring(body)
            while !rest.isEmpty {
                let piece = rest.prefix(1000)
                chunks += String(piece.count, radix: 16) + "\r\n" + piece + "\r\n"
                rest = rest.dropFirst(piece.count)
            }
            try client.send(
                "POST /body-info HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\(chunks)0\r\n\r\n")
        } else {
            try client.send(Requests.post("/body-info", body: body))
        }
        return try client.readResponse().bodyText
    }

    @Test(arguments: ServerMode.all, [false, true])
    func switchesToAFileOneBytePastTheLimit(_ mode: ServerMode, chunked: Bool) throws {
        let server = try startTestApp(mode, ["--body-memory-limit", "\(Self.limit)"])
        let client = try connect(server)
        for (length, inMemory) in [(Self.limit - 1, true), (Self.limit, true), (Self.limit + 1, false)] {
            let info = try bodyInfo(client, length: length, chunked: chunked)
            expectEqual(info, "length=\(length) memory=\(inMemory) sum=\(length * 65)\n", "\(length) bytes")
        }
        expectStillOpen(client)
    }
}
