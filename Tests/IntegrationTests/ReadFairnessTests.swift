import Foundation
import Testing

/// One wake-up of the loop reads at most 16 full buffers from a connection (conn.c,
/// READS_PER_WAKE), so a client that sends faster than the worker parses (a large upload)
/// cannot hold the loop while other connections wait and its clock goes stale. Read from
/// the server's own system calls under strace: the reads of the uploading connection
/// between two polls (over TLS, OpenSSL's reads of the socket).
@Suite(.exclusive) final class ReadFairnessTests: ServerSuite {
    static let bodySize = 8 << 20

    /// The longest run of reads on `descriptor` with no poll between them.
    func longestReadBurst(_ trace: [Substring], descriptor: Int) -> Int {
        var longest = 0
        var run = 0
        for call in trace.map(TracedCall.init) {
            if call.isCall("epoll_wait") {
                run = 0
            } else if call.line.contains("recvfrom(\(descriptor),") {
                run += 1
                longest = max(longest, run)
            }
        }
        return longest
    }

    @Test(arguments: ServerMode.all)
    func largeUploadIsReadInBoundedBursts(_ mode: ServerMode) throws {
        let traced = try startTracedTestApp(mode, syscalls: ["accept4", "recvfrom", "epoll_wait"], ["--workers", "0"])
        let client = try connect(traced.server, timeout: 60)
        // A deep send queue: each read the server makes lets the kernel move more of it in
        // at once, so the socket never runs dry and only the bound ends a burst.
        var sendBuffer: Int32 = 4 << 20
        setsockopt(client.stream.socket, SOL_SOCKET, SO_SNDBUF, &sendBuffer, socklen_t(MemoryLayout<Int32>.size))
        let head =
            "POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(Self.bodySize)\r\nConnection: close\r\n\r\n"
        try client.send(Array(head.utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: Self.bodySize))
        let response = try client.readResponse()
        expectEqual(response.status, 200)
        #expect(response.bodyText == "Hello, World!")
        expectClosed(client)

        let trace = try traced.finish()
        let accepted = trace.map(TracedCall.init).filter { $0.isCall("accept4") }.compactMap(\.result)
        let descriptor = try #require(accepted.first, "the server's accept4 calls: \(accepted)")
        let burst = longestReadBurst(trace, descriptor: descriptor)
        #expect(burst <= 16, "reads of the upload between two polls: \(burst)")
        #expect(burst >= 1, "the trace shows the reads of the upload")
    }
}
