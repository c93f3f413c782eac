import Foundation
import Testing

/// A refusal that closes the connection while the client is still sending (a 413 for a
/// body over --max-body-size) reaches the client intact: the server stops writing, drains
/// what the client still sends, and only then closes. Closing at once with unread bytes
/// makes the kernel send a reset, which destroys the 413 in the client's receive buffer
/// before the client (which reads only after it finished sending) gets to it.
@Suite(.exclusive) final class LingeringCloseTests: ServerSuite {
    static let bodySize = 4 << 20

    /// Raw bytes: the head, then the whole 4 MiB body, and only then a read.
    @Test(arguments: ServerMode.all)
    func refusalBeforeALargeBodyArrivesIntactWithoutReset(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--max-body-size", "1k"])
        let client = try connect(server)
        let head = "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(Self.bodySize)\r\n\r\n"
        try client.send(Array(head.utf8) + [UInt8](repeating: 0x61, count: Self.bodySize))
        let response = try client.readResponse()
        expectEqual(response.status, 413, "\(response.rawHead)")
        expectClosed(client, allowingReset: false, "after the 413 to a 4 MiB body")
    }

    /// Python's http.client POSTing 4 MB against a 1 KiB limit, ten times: it sends the
    /// whole body before it reads, and must see the 413 every time.
    @Test(arguments: ServerMode.all)
    func pythonClientSees413EveryTime(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--max-body-size", "1k"])
        let result = try python(
            server,
            """
            import sys
            body = b"a" * \(Self.bodySize)
            seen = []
            for attempt in range(10):
                connection = connect(sys.argv[1])
                try:
                    connection.request("POST", "/echo", body=body)
                    seen.append(str(connection.getresponse().status))
                except OSError as error:
                    seen.append(type(error).__name__)
                finally:
                    connection.close()
            print(" ".join(seen))
            """, timeout: 60)
        #expect(result.succeeded, "\(result)")
        let seen = result.standardOutput.split(separator: " ").map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(seen == Array(repeating: "413", count: 10), "each attempt's status or error: \(seen)")
    }
}
