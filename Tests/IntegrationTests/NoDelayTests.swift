import Foundation
import Testing

/// TCP_NODELAY is set only when a plain TCP connection is kept alive or streams (conn.c,
/// respond.c): a single response leaves in one write and needs no socket option, while a
/// next response or the next chunk must not wait for the ACK of the one before. A TLS
/// connection sets it at accept, by design (its handshake flights, ticket and close_notify
/// are several writes). Read from the server's own setsockopt calls under strace, each
/// attributed to its connection by the descriptor accept4 returned.
@Suite(.exclusive) final class NoDelayTests: ServerSuite {
    /// The connections of the test in order, and whether each was given TCP_NODELAY.
    func noDelayByConnection(_ trace: [Substring]) -> [Bool] {
        var connectionOfDescriptor: [Int: Int] = [:]
        var noDelay: [Bool] = []
        for call in trace.map(TracedCall.init) {
            if call.isCall("accept4"), let descriptor = call.result {
                connectionOfDescriptor[descriptor] = noDelay.count
                noDelay.append(false)
            } else if call.line.contains("setsockopt("), call.line.contains("TCP_NODELAY"),
                let descriptor = Int(call.line.split(separator: "(", maxSplits: 1)[1].prefix { $0.isNumber }),
                let connection = connectionOfDescriptor[descriptor]
            {
                noDelay[connection] = true
            }
        }
        return noDelay
    }

    @Test(arguments: ServerMode.all)
    func noDelayOnlyWhenKeptAliveOrStreaming(_ mode: ServerMode) throws {
        let traced = try startTracedTestApp(mode, syscalls: ["accept4", "setsockopt"], ["--workers", "0"])
        let server = traced.server
        // Each connection is closed by the server before the next one opens, so a reused
        // descriptor number always means the newest connection.
        let single = try connect(server)
        try single.send(Requests.get("/", "Connection: close\r\n"))
        try expectEqual(single.readResponse().status, 200)
        expectClosed(single)

        let keptAlive = try connect(server)
        try keptAlive.send(Requests.get("/"))
        try expectEqual(keptAlive.readResponse().status, 200)
        try keptAlive.send(Requests.get("/", "Connection: close\r\n"))
        try expectEqual(keptAlive.readResponse().status, 200)
        expectClosed(keptAlive)

        let streamed = try connect(server)
        try streamed.send(Requests.get("/stream", "Connection: close\r\n"))
        let stream = try streamed.readResponse()
        #expect(stream.bodyText == "chunk 0\nchunk 1\nchunk 2\n")
        expectClosed(streamed)

        let noDelay = noDelayByConnection(try traced.finish())
        let fromTheStart = mode.transport == .tls
        #expect(noDelay == [fromTheStart, true, true], "TCP_NODELAY on: one response, kept alive, streamed")
    }
}
