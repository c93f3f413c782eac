import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// systemd: socket activation (LISTEN_FDS/LISTEN_PID) and sd_notify (READY, RELOADING,
/// STOPPING, WATCHDOG) on a datagram socket the test owns.
@Suite(.exclusive) final class ClusterSystemdTests: ClusterSuite {
    /// What systemd does, in a few lines: bind a listening socket, make it descriptor 3, set
    /// LISTEN_FDS=1 and LISTEN_PID to the pid that exec keeps, then exec the server.
    static let activator = """
        import os, socket, sys
        notify, watchdog, binary = sys.argv[1], sys.argv[2], sys.argv[3]
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        if listener.fileno() != 3:
            os.dup2(listener.fileno(), 3)
            listener.close()
        os.set_inheritable(3, True)
        environment = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), NOTIFY_SOCKET=notify,
                           WATCHDOG_USEC=watchdog)
        os.execve(binary, [binary] + sys.argv[4:], environment)
        """

    /// A bound AF_UNIX datagram socket that collects notifications.
    final class NotifySocket {
        let fd: Int32
        let path: String
        private(set) var messages: [String] = []

        init(path: String) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard bound == 0 else {
                throw RawClient.Failure.socket("bind \(path): \(String(cString: strerror(errno)))")
            }
        }

        deinit {
            close(fd)
            unlink(path)
        }

        /// Reads what arrived (waiting up to `timeout` for the first datagram).
        func collect(timeout: Double) {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            var wait = Int32(timeout * 1000)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while poll(&poller, 1, wait) > 0 {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { break }
                messages.append(String(decoding: buffer[..<count], as: UTF8.self))
                wait = 0
            }
        }

        /// Waits until `count` messages holding `line` arrived.
        func waitFor(_ line: String, count: Int = 1, timeout: Double = 20) -> Bool {
            waitUntil(timeout: timeout, interval: 0) {
                collect(timeout: 0.05)
                return self.count(line) >= count
            }
        }

        func count(_ line: String) -> Int {
            messages.filter { $0.split(separator: "\n").contains(Substring(line)) }.count
        }
    }

    static var python: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/python3" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    @Test func socketActivationAndNotifications() throws {
        let python = try #require(Self.python, "python3 is needed")
        let notify = try NotifySocket(path: directory.appendingPathComponent("notify").path)
        let server = try ServerProcess(
            binary: python,
            arguments: [
                "-c", Self.activator, notify.path, "400000", Binaries.testApp, "-w", "2", "--threads", "2",
                "--log-format", "json", "--stats-file", statsPath, "--bind", "tcp://127.0.0.1:1",
            ],
            outputDirectory: directory, readyTimeout: 20)
        adopt(server)

        // The listener came from the activator (the --bind given is ignored), and says so.
        let listening = events(server, "listening")
        #expect(listening.count == 1)
        #expect((listening.first?["activated"] as? String) == "true")
        #expect(events(server, "socket activation: serving the listeners systemd passed; --bind ignored").count == 1)
        #expect(notify.waitFor("READY=1"), "\(notify.messages)")
        #expect(!events(server, "all workers booted").isEmpty, "READY=1 comes once every worker booted")
        waitForStats("the shared listener of socket activation") { $0["listener_mode"] as? String == "shared" }
        for _ in 0..<10 { #expect(get(server.port) == 200) }

        // WATCHDOG_USEC=400000: a ping every 200 ms.
        #expect(notify.waitFor("WATCHDOG=1", count: 3, timeout: 5), "\(notify.messages)")

        server.process.signal(SIGUSR2)
        #expect(notify.waitFor("RELOADING=1"), "\(notify.messages)")
        waitForEvents(server, "phased restart finished")
        #expect(
            notify.waitFor("READY=1", count: 2, timeout: 10), "READY=1 again after the restart: \(notify.messages)")

        server.process.signal(SIGTERM)
        #expect(notify.waitFor("STOPPING=1"), "\(notify.messages)")
        #expect(server.waitForExit(timeout: 15) == .exited(0))
    }
}
