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

    /// Parsers keep their request body buffer (up to 64 KiB) for the next upload; once a
    /// burst of uploads is over and its connections closed, the parsers left in the pool keep
    /// at most 4 MiB of them between them (conn.c, POOLED_BODY_BYTES_MAX), not 64 KiB each.
    /// glibc is told to map every allocation of 32 KiB or more on its own, so that a freed
    /// buffer leaves the heap (VmData) at once and a kept one stays in it, and to keep one
    /// arena: one CI run under load kept 4,620 KiB instead of the usual 4,284 to 4,352, most
    /// likely app threads that found an arena busy and made new ones (about 130 KiB each).
    @Test(arguments: ServerMode.Dispatch.allCases)
    func aBurstOfUploadsLeavesAtMostFourMebibytesOfBodyBuffers(_ dispatch: ServerMode.Dispatch) throws {
        let uploads = 200
        let bodySize = 60_000  // a 64 KiB buffer: 17 pages mapped
        let server = try startTestApp(
            ServerMode(dispatch, .tcp), ["--workers", "0"],
            environment: ["MALLOC_MMAP_THRESHOLD_": "32768", "MALLOC_ARENA_MAX": "1"])
        let descriptors = {
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/fd").count) ?? 0
        }
        let baseline = descriptors()
        /// `uploads` connections at once, each sending `request` and then `rest`, all the
        /// `request`s before any `rest`; then all closed.
        func burst(_ request: String, _ rest: String) throws {
            let clients = try (0..<uploads).map { _ in
                let client = try connect(server)
                try client.send(request)
                return client
            }
            for client in clients {
                try client.send(rest)
                try expectEqual(client.readResponse().status, 200)
                client.close()
            }
            let closed = waitUntil(timeout: 10) { descriptors() <= baseline }
            try #require(closed, "\(descriptors() - baseline) connections still open")
        }
        // The same burst of requests without a body first: the pools' connections, read
        // buffers and parsers are made before measuring (and no small body buffer that the
        // uploads would grow inside the heap), so what the uploads add is body buffers.
        try burst("GET / HTTP/1.1\r\nHost: localhost\r\n", "\r\n")
        let before = try Memory(server)
        let body = String(repeating: "b", count: bodySize)
        try burst(
            "POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(bodySize)\r\n\r\n" + body.prefix(1000),
            String(body.dropFirst(1000)))
        let kept = try Memory(server).heapKiB - before.heapKiB
        // 64 buffers (68 KiB mapped each) make 4,352 KiB; 200 would make 13,600. The bound
        // sits between the two, with room for what the handlers' own allocations leave.
        #expect(kept < 6 * 1024, "the pool kept \(kept) KiB of body buffers after \(uploads) uploads")
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
