import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A client that asks for a big response and stops reading must not stall anyone else,
/// and `--write-timeout` eventually drops it.
@Suite(.exclusive) final class SlowReaderTests: ServerSuite {
    static let size = 8_000_000

    /// Requests /bytes?n=8000000 on a connection with a small receive window and reads
    /// only the head, so the server is left with megabytes it cannot send.
    func stalledClient(_ server: ServerProcess) throws -> RawClient {
        let stalled = try connect(server, receiveBufferSize: 16 << 10)
        try stalled.send(Requests.get("/bytes?n=\(Self.size)"))
        let head = try stalled.readHead()
        #expect(head.status == 200)
        #expect(head.header("Content-Length") == String(Self.size))
        return stalled
    }

    @Test(arguments: ServerMode.all)
    func stalledReaderDoesNotStallOthers(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let stalled = try stalledClient(server)
        for index in 0..<3 {
            let (response, seconds) = try measureSeconds {
                try exchange(server, Requests.get("/request?n=\(index)"))
            }
            #expect(response.status == 200)
            #expect(response.bodyText.contains("query=n=\(index)"))
            #expect(seconds < 5, "another client waited behind the stalled one")
        }
        #expect(!peerHungUp(stalled, within: 0.3), "the server closed the stalled connection")
    }

    @Test(arguments: ServerMode.all)
    func stalledReaderGetsWholeResponseWhenItReadsAgain(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let stalled = try stalledClient(server)
        let status = try exchange(server, Requests.get("/")).status
        #expect(status == 200)
        // The whole body arrives once the client reads again, then the connection goes on.
        try stalled.discard(exactly: Self.size, timeout: 20)
        try stalled.send(Requests.get("/"))
        let body = try stalled.readResponse().bodyText
        #expect(body == "Hello, World!")
    }

    @Test(arguments: ServerMode.all)
    func writeTimeoutClosesStalledConnection(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--write-timeout", "500ms"])
        let stalled = try stalledClient(server)
        // The client stays stalled well past --write-timeout: that is the scenario.
        usleep(1_500_000)
        let (bytes, closed) = stalled.drain(timeout: 10)
        #expect(closed, "the stalled connection was not closed (\(bytes) body bytes read, all of them kept coming)")
        #expect(bytes < Self.size, "the whole body was delivered: the write timeout never cut the connection")
        // The server goes on.
        let status = try exchange(server, Requests.get("/")).status
        #expect(status == 200)
    }

    /// Whether the server closed (FIN) or reset `client` within `seconds`, without reading
    /// what waits in its receive queue (a stalled reader's unread body stays put).
    func peerHungUp(_ client: RawClient, within seconds: Double) -> Bool {
        // POLLRDHUP (<poll.h>, a GNU extension Glibc's module does not export): the peer
        // shut down its writing side.
        let peerShutdown: Int16 = 0x2000
        var descriptor = pollfd(fd: client.stream.socket, events: peerShutdown, revents: 0)
        let ready = poll(&descriptor, 1, Int32(seconds * 1000))
        return ready > 0 && descriptor.revents & (peerShutdown | Int16(POLLHUP | POLLERR)) != 0
    }
}
