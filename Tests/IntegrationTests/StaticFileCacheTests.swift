import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The open-file cache seen from outside: a file modified, replaced or deleted on disk is
/// noticed within the second the cache trusts an entry, for a file kept in memory and one
/// kept open; and a file truncated while it is sent closes the connection (the client sees
/// a short body) and logs one warning.
@Suite(.concurrent) final class StaticFileCacheTests: StaticSiteSuite {
    /// How long a cached entry is trusted, and a margin for the coarse clock and the trip.
    static let bound = 1.0
    static let margin = 0.15

    enum Change: CaseIterable {
        case rewrittenInPlace, replacedByRename, deleted
    }

    /// Changes each file, then asks for it every 50 ms until well past the bound: every
    /// request sent more than the bound after the change must see it (never the old bytes).
    @Test(.exclusive, arguments: ServerMode.all)
    func changesOnDiskAreNoticedWithinTheBound(_ mode: ServerMode) throws {
        let small = Self.noise(2_000, seed: 5)
        let large = Self.noise(200_000, seed: 6)
        var files: [String: [UInt8]] = [:]
        for change in Change.allCases {
            files["small-\(change).bin"] = small
            files["large-\(change).bin"] = large
        }
        let site = try makeSite(files)
        let server = try startStaticServer(mode, directory: site)
        // Warm the cache, on each connection the workers might take.
        for name in files.keys {
            for _ in 0..<4 { try expectEqual(fetch(server, "/" + name).status, 200) }
        }
        for change in Change.allCases {
            for (name, old) in [("small-\(change).bin", small), ("large-\(change).bin", large)] {
                let path = site + "/" + name
                // The same size and new bytes: only the modification time and content differ.
                let new = old.map { $0 ^ 0x5A }
                let changedAt = ContinuousClock.now
                switch change {
                case .rewrittenInPlace:
                    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                    try handle.write(contentsOf: Data(new))
                    try handle.close()
                case .replacedByRename:
                    try Data(new).write(to: URL(fileURLWithPath: path), options: .atomic)
                case .deleted:
                    try FileManager.default.removeItem(atPath: path)
                }
                var noticed = false
                var sentAfter = 0.0
                // Until well past the bound (old bytes there would be a failure), at most 3 s.
                let deadline = Deadline(seconds: 3)
                while !deadline.hasPassed && !(noticed && sentAfter > Self.bound + Self.margin + 0.3) {
                    sentAfter = changedAt.duration(to: .now).secondsValue
                    let response = try fetch(server, "/" + name)
                    let current = change == .deleted ? response.status == 404 : response.body == new
                    if !current {
                        #expect(response.body == old, "\(name): neither the old nor the new bytes")
                        #expect(
                            sentAfter < (Self.bound + Self.margin),
                            "\(name) (\(change)): old bytes served \(sentAfter) s after the change")
                    }
                    noticed = noticed || current
                    usleep(50_000)
                }
                #expect(noticed, "\(name) (\(change)): never noticed")
            }
        }
    }

    /// A large file (sent with sendfile) cut short while a slow client reads it: the
    /// response cannot be completed, so the connection closes before Content-Length bytes;
    /// the log says so once, naming the file.
    @Test(arguments: ServerMode.all)
    func aTruncatedFileClosesTheConnectionAndLogsOneWarning(_ mode: ServerMode) throws {
        let size = 48 << 20
        let site = try makeSite([:])
        let path = site + "/big.bin"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        #expect(truncate(path, off_t(size)) == 0)
        let server = try startStaticServer(mode, directory: site)
        let client = try connect(server, timeout: 20, receiveBufferSize: 16 << 10)
        try client.send(Requests.get("/big.bin"))
        let head = try client.readHead()
        #expect(head.header("Content-Length") == String(size))
        // The socket buffers hold a few MiB at most: cut the file well below what is sent.
        #expect(truncate(path, 1 << 20) == 0)
        let (received, closed) = client.drain(timeout: 20)
        #expect(closed, "the connection stays open after a short body")
        #expect(received < size, "a truncated file cannot fill its Content-Length")
        let warning = "file truncated while being sent"
        #expect(waitUntil(timeout: 5) { server.standardError.contains(warning) }, "no warning: \(server.logTail)")
        let lines = server.standardError.split(separator: "\n").filter { $0.contains(warning) }
        #expect(lines.count == 1, "one warning: \(lines)")
        #expect(lines.first?.contains("big.bin") ?? false, "the warning names the file: \(lines)")
        #expect(lines.first?.contains("\"level\":\"warning\"") ?? false, "\(lines)")
        // The server goes on.
        try expectEqual(fetch(server, "/big.bin", ["Range: bytes=0-9"]).status, 206)
    }

    /// A small file, kept in memory, leaves in the same write as its head (one sendmsg, no
    /// sendfile); a larger one, kept open, with sendfile. Each server traced separately
    /// (`--workers 0`), every response asked for twice (opened, then from the cache). Seen
    /// failing (sendfile for the small file) with nothing kept in memory.
    @Test(.exclusive) func smallFilesLeaveWithTheHeadLargerOnesWithSendfile() throws {
        let files = [
            (name: "small.bin", size: 2_000, inMemory: true), (name: "large.bin", size: 200_000, inMemory: false),
        ]
        let site = try makeSite(Dictionary(uniqueKeysWithValues: files.map { ($0.name, Self.noise($0.size, seed: 7)) }))
        for (name, size, inMemory) in files {
            let traced = try startTracedStaticServer(
                ServerMode(.inline, .tcp), directory: site, syscalls: ["sendmsg", "sendfile", "writev", "write"],
                ["--workers", "0"])
            for _ in 0..<2 {
                let response = try fetch(traced.server, "/" + name)
                #expect(response.status == 200 && response.body.count == size, "\(response.rawHead)")
            }
            let calls = try traced.finish().map(TracedCall.init)
            let sendfiles = calls.filter { $0.isCall("sendfile") && ($0.result ?? 0) > 0 }
            let wholeWrites = calls.filter { $0.isCall("sendmsg") && ($0.result ?? 0) > size }
            if inMemory {
                #expect(sendfiles.isEmpty && wholeWrites.count == 2, "\(name): \(calls.map(\.line))")
            } else {
                #expect(sendfiles.count >= 2, "\(name): \(calls.map(\.line))")
            }
        }
    }
}
