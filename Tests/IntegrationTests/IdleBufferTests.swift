import Foundation
import Testing

/// A connection parked between requests gives its 8 KiB read buffer and its 2 KiB parser
/// back to the worker (conn.c, next_request), so idle keep-alive connections cost only their
/// structs (about 0.6 KiB). Measured in the serving process's memory: connections that sent
/// nothing grow the heap (VmData) by less than a parser each, and parked after a request
/// they grow it no more than that. A kept buffer would add 8 KiB of heap each, one page of
/// it resident (VmRSS: a short request touches only the first page).
@Suite(.exclusive) final class IdleBufferTests: ServerSuite {
    static let connections = 300
    static let pageKiB = 4
    /// A connection's struct and what the kernel's descriptor costs the process, with room:
    /// a parser each (2 KiB) would pass it.
    static let idleConnectionKiB = 1.5

    struct Memory {
        let heapKiB: Int
        let residentKiB: Int

        init(_ server: ServerProcess) throws {
            heapKiB = try #require(ProcFS.statusKiB(server.pid, "VmData"))
            residentKiB = try #require(ProcFS.statusKiB(server.pid, "VmRSS"))
        }
    }

    @Test(arguments: ServerMode.Dispatch.allCases)
    func idleConnectionsHoldNoBufferNorParser(_ dispatch: ServerMode.Dispatch) throws {
        let server = try startTestApp(ServerMode(dispatch, .tcp), ["--workers", "0"])
        // What the first requests make once (threads' arenas, caches) is made before measuring.
        for _ in 0..<20 { try expectEqual(exchange(server, Requests.get("/")).status, 200) }
        let descriptors = {
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/fd").count) ?? 0
        }
        let baseline = descriptors()
        let before = try Memory(server)

        // Connections that sent nothing: accepted (read at once, nothing there), holding
        // their struct only.
        let clients = try (0..<Self.connections).map { _ in try connect(server) }
        let accepted = waitUntil(timeout: 10) { descriptors() >= baseline + Self.connections }
        try #require(accepted, "\(descriptors() - baseline) of \(Self.connections) accepted")
        let silent = try Memory(server)
        expectHeldOnlyStructs(silent.heapKiB - before.heapKiB, "that sent nothing")

        // The same connections after one request each, parked for the next.
        for client in clients {
            try client.send(Requests.get("/"))
            try expectEqual(client.readResponse().status, 200)
        }
        let parked = try Memory(server)
        expectHeldOnlyStructs(parked.heapKiB - before.heapKiB, "parked after a request")
        let residentGrowth = parked.residentKiB - silent.residentKiB
        #expect(
            residentGrowth < Self.connections * Self.pageKiB / 2,
            "\(Self.connections) parked connections grew resident memory by \(residentGrowth) KiB")
        // Still parked, not closed (a closed connection would hold no buffer either).
        expectStillOpen(clients[clients.count - 1])
    }

    func expectHeldOnlyStructs(
        _ heapGrowthKiB: Int, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            Double(heapGrowthKiB) < Double(Self.connections) * Self.idleConnectionKiB,
            "\(Self.connections) connections \(what) grew the heap by \(heapGrowthKiB) KiB",
            sourceLocation: sourceLocation)
    }
}
