import Foundation
import Testing

/// A connection parked between requests gives its 8 KiB read buffer back to the worker
/// (conn.c, next_request: release_buffer), so idle keep-alive connections cost only their
/// structs. Measured in the serving process's memory: connections parked after a request
/// grow it no more than when they had sent nothing (they hold no buffer then either). A
/// kept buffer would add 8 KiB of heap each (VmData), one page of it resident (VmRSS: a
/// short request touches only the first page).
@Suite(.exclusive) final class IdleBufferTests: ServerSuite {
    static let connections = 300
    static let bufferKiB = 8
    static let pageKiB = 4

    struct Memory {
        let heapKiB: Int
        let residentKiB: Int

        init(_ server: ServerProcess) throws {
            heapKiB = try #require(ProcFS.statusKiB(server.pid, "VmData"))
            residentKiB = try #require(ProcFS.statusKiB(server.pid, "VmRSS"))
        }
    }

    @Test(arguments: ServerMode.Dispatch.allCases)
    func parkedConnectionsHoldNoReadBuffer(_ dispatch: ServerMode.Dispatch) throws {
        let server = try startTestApp(ServerMode(dispatch, .tcp), ["--workers", "0"])
        // What the first requests make once (threads' arenas, caches) is made before measuring.
        for _ in 0..<20 { try expectEqual(exchange(server, Requests.get("/")).status, 200) }
        let descriptors = {
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/fd").count) ?? 0
        }
        let baseline = descriptors()

        // Connections that sent nothing: accepted (read at once, nothing there), holding
        // their struct only.
        let clients = try (0..<Self.connections).map { _ in try connect(server) }
        let accepted = waitUntil(timeout: 10) { descriptors() >= baseline + Self.connections }
        try #require(accepted, "\(descriptors() - baseline) of \(Self.connections) accepted")
        let silent = try Memory(server)

        // The same connections after one request each, parked for the next.
        for client in clients {
            try client.send(Requests.get("/"))
            try expectEqual(client.readResponse().status, 200)
        }
        let parked = try Memory(server)
        let heapGrowth = parked.heapKiB - silent.heapKiB
        let residentGrowth = parked.residentKiB - silent.residentKiB
        #expect(
            heapGrowth < Self.connections * Self.bufferKiB / 2,
            "\(Self.connections) parked connections grew the heap by \(heapGrowth) KiB")
        #expect(
            residentGrowth < Self.connections * Self.pageKiB / 2,
            "\(Self.connections) parked connections grew resident memory by \(residentGrowth) KiB")
        // Still parked, not closed (a closed connection would hold no buffer either).
        expectStillOpen(clients[clients.count - 1])
    }
}
