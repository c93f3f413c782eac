import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A `FileRegion` owns its descriptor (issue 12): a response dropped unsent closes it,
/// copies close it once (the engine, after sending), and a region sent once cannot be sent
/// again. Counted in /proc/PID/fd of the one serving process (`--workers 0`), and every
/// close(2) it makes watched with strace.
@Suite(.concurrent) final class FileOwnershipTests: ServerSuite {
    /// The server's descriptors open on `path` (its /proc/PID/fd links): only the regions'
    /// own, whatever else the process opens meanwhile (its loop's descriptors appear just
    /// after the listening line, connections come and go).
    func descriptors(_ server: ServerProcess, on path: String) -> Int {
        let directory = "/proc/\(server.pid)/fd"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return -1 }
        return entries.filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)")) == path
        }
        .count
    }

    /// One request on a new connection, answered and closed (its socket gone from the count).
    func get(_ server: ServerProcess, _ target: String) throws -> HTTPResponseMessage {
        let client = try connect(server)
        try client.send(Requests.get(target, "Connection: close\r\n"))
        let response = try client.readResponse()
        expectClosed(client)
        return response
    }

    /// The descriptors on `path` once none is left (the engine closes a sent region just
    /// after the client saw the response end), or what is left after 2 s.
    func settledDescriptors(_ server: ServerProcess, on path: String) -> Int {
        var count = descriptors(server, on: path)
        waitUntil(timeout: 2) {
            count = descriptors(server, on: path)
            return count == 0
        }
        return count
    }

    func makeFile(_ name: String, _ text: String) throws -> String {
        let path = workDirectory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: ServerMode.all)
    func regionsOwnTheirDescriptors(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--workers", "0"])
        let file = try makeFile("region.txt", "the region's bytes\n")
        let sent = try get(server, "/file?path=\(file)")
        #expect(sent.bodyText == "the region's bytes\n")
        #expect(settledDescriptors(server, on: file) == 0, "a sent region leaked")

        // 200 regions made and dropped without being sent: none left open.
        let dropped = try get(server, "/file-dropped?path=\(file)&n=200")
        #expect(dropped.bodyText == "dropped\n")
        #expect(settledDescriptors(server, on: file) == 0, "dropped regions leaked")
        // A region sent while copies of it are dropped (before, after it, or both): sent
        // whole, so no copy closed it early, and closed once.
        for which in 0..<3 {
            let copied = try get(server, "/file-copied?path=\(file)&which=\(which)")
            #expect(copied.bodyText == "the region's bytes\n", "copy \(which)")
        }
        #expect(settledDescriptors(server, on: file) == 0)
        for _ in 0..<20 {
            let again = try get(server, "/file?path=\(file)")
            #expect(again.status == 200)
        }
        #expect(settledDescriptors(server, on: file) == 0, "sent regions leaked")
    }

    /// Copies of a region close its descriptor once: under strace, no close(2) of the
    /// server fails with EBADF (a second close of a number already closed; the same close
    /// after the number was reused would close another file or a connection).
    @Test(arguments: ServerMode.all)
    func regionsAreClosedOnce(_ mode: ServerMode) throws {
        let trace = workDirectory.appendingPathComponent("close.trace").path
        let server = try startServer(
            mode, binary: "/usr/bin/strace",
            leading: ["-f", "-qq", "-Z", "-e", "trace=close", "-o", trace, Binaries.testApp], flags: ["--workers", "0"])
        let file = try makeFile("traced.txt", "traced\n")
        for target in ["/file", "/file-dropped", "/file-copied?which=0", "/file-copied?which=2", "/file-cached"] {
            let response = try get(server, target + (target.contains("?") ? "&" : "?") + "path=\(file)")
            #expect(response.status == 200, "\(target)")
        }
        let refused = try get(server, "/file-cached?path=\(file)")
        #expect(refused.status == 500)
        // The server's own graceful stop (strace, told to stop, would detach and leave it
        // running); strace exits with its status once it has written the whole trace.
        let traced = server.processTree.filter { $0 != server.pid }
        #expect(traced.count == 1, "\(traced)")
        for pid in traced { kill(pid, SIGTERM) }
        let status = server.waitForExit(timeout: 10)
        #expect(status == .exited(0), "\(server.logTail)")
        server.stop()
        let failedCloses = (try String(contentsOfFile: trace, encoding: .utf8)).split(separator: "\n")
            .filter { $0.contains("close(") }
        #expect(failedCloses.isEmpty, "a descriptor closed twice: \(failedCloses)")
    }

    /// A handler that returns the same Response every time: the first sends the region,
    /// the second is refused with a 500 and an error that says why, and serving goes on.
    @Test(arguments: ServerMode.all)
    func regionIsSentOnce(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--workers", "0"])
        let file = try makeFile("cached.txt", "cached once\n")
        let first = try get(server, "/file-cached?path=\(file)")
        #expect(first.bodyText == "cached once\n")
        let again = try get(server, "/file-cached?path=\(file)")
        #expect(again.status == 500, "\(again.rawHead)")
        let reported = waitUntil(timeout: 5) {
            server.standardError.contains(
                "hook on-error GET /file-cached?path=\(file): the handler returned a file body (FileRegion, FileParts)"
                    + " that an earlier response already sent")
        }
        #expect(reported, "\(server.logTail)")
        let next = try get(server, "/")
        #expect(next.status == 200)
    }
}
