import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where the binaries under test live: `$RAPTOR_BIN_DIR`, else the directory of the test
/// bundle (`swift build` puts `raptor-ev` and `raptor-testapp` next to it).
enum Binaries {
    static var directory: String {
        if let override = ProcessInfo.processInfo.environment["RAPTOR_BIN_DIR"], !override.isEmpty {
            return override
        }
        // On Linux the bundle is the test executable itself: .build/<triple>/debug/X.xctest
        let bundle = Bundle.main.executablePath ?? CommandLine.arguments[0]
        let url = URL(fileURLWithPath: bundle)
        return url.pathExtension == "xctest" ? url.deletingLastPathComponent().path : Bundle.main.bundlePath
    }

    static var raptorEV: String { directory + "/raptor-ev" }
    static var testApp: String { directory + "/raptor-testapp" }

    /// The repository root, from this file's path.
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath)  // Tests/IntegrationTests/Harness/ServerProcess.swift
            .deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }
}

/// A server under test: started with its arguments, ready once it logged its `listening`
/// line (JSON on stderr), stopped with SIGTERM (SIGKILL to its process group as a last
/// resort).
final class ServerProcess {
    let process: ChildProcess
    /// What its clients connect over.
    let transport: ServerMode.Transport
    /// The port it listens on (an ephemeral one: the tests bind port 0).
    let port: UInt16

    struct StartError: Error, CustomStringConvertible {
        let description: String
    }

    var pid: pid_t { process.pid }
    var standardError: String { process.standardError }
    var standardOutput: String { process.standardOutput }
    var isRunning: Bool { process.isRunning }
    var commandLine: String { ([process.executable] + process.arguments).joined(separator: " ") }

    /// Starts `binary` (with `environment` added to this process's) and waits (at most
    /// `readyTimeout` seconds) for the line saying it listens over `transport` and, with
    /// `waitingForWorkers`, for a master's line saying all its workers booted (a master logs
    /// `listening` before it forks them).
    init(
        binary: String, arguments: [String], transport: ServerMode.Transport = .tcp, waitingForWorkers: Bool = false,
        outputDirectory: URL, readyTimeout: Double = 10, environment: [String: String] = [:]
    ) throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw StartError(
                description: "\(binary) is not an executable: run `swift build` first, or set RAPTOR_BIN_DIR")
        }
        // Its own output files, even when a test starts the same binary twice.
        var name = URL(fileURLWithPath: binary).lastPathComponent
        var copy = 1
        while FileManager.default.fileExists(atPath: outputDirectory.appendingPathComponent(name + ".stderr").path) {
            copy += 1
            name = URL(fileURLWithPath: binary).lastPathComponent + "-\(copy)"
        }
        let process = try ChildProcess(
            executable: binary, arguments: arguments, outputDirectory: outputDirectory, name: name,
            environment: environment)
        var found: UInt16?
        var booted = !waitingForWorkers
        waitUntil(timeout: readyTimeout) {
            let log = process.standardError
            found = found ?? Self.listeningPort(in: log, scheme: transport.bindScheme)
            booted = booted || log.contains("all workers booted")
            return (found != nil && booted) || !process.isRunning
        }
        guard let found, booted else {
            let state = process.poll().map { "it \($0)" } ?? "it still runs"
            let log = process.standardError
            process.killGroup()
            let missing = found == nil ? "no listening line" : "no \"all workers booted\" line"
            throw StartError(
                description:
                    "\(missing) within \(readyTimeout) s from `\(([binary] + arguments).joined(separator: " "))`"
                    + " (\(state)); stderr:\n\(log.suffix(2000))")
        }
        self.process = process
        self.transport = transport
        self.port = found
    }

    /// `http://127.0.0.1:PORT` + `path`, with the transport's scheme.
    func url(_ path: String) -> String { "\(transport.urlScheme)://127.0.0.1:\(port)\(path)" }

    /// A new connection over the server's transport; the caller closes it (a suite's
    /// `connect` closes its own at the end of the test).
    func openClient(timeout: Double = 10, receiveBufferSize: Int? = nil) throws -> RawClient {
        try transport.openClient(port: port, timeout: timeout, receiveBufferSize: receiveBufferSize)
    }

    /// The port of the first `{"message":"listening","url":"SCHEME://HOST:PORT"}` line
    /// (`tcp://` or `ssl://` when no scheme is given).
    static func listeningPort(in log: String, scheme: String? = nil) -> UInt16? {
        let schemes = scheme.map { [$0] } ?? ["tcp", "ssl"]
        for line in log.split(separator: "\n") where line.contains("listening") {
            // The text format: `2026-11-23T11:30:00.123Z info listening url=tcp://127.0.0.1:43817`
            if !line.hasPrefix("{"), let start = schemes.lazy.compactMap({ line.range(of: "url=\($0)://") }).first {
                let url = line[start.upperBound...].prefix { !$0.isWhitespace }
                if let colon = url.lastIndex(of: ":"), let port = UInt16(url[url.index(after: colon)...]) {
                    return port
                }
            }
            guard let data = line.data(using: .utf8),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                object["message"] as? String == "listening",
                let url = object["url"] as? String, schemes.contains(where: { url.hasPrefix("\($0)://") }),
                let colon = url.lastIndex(of: ":")
            else { continue }
            if let port = UInt16(url[url.index(after: colon)...]) { return port }
        }
        return nil
    }

    /// Set once the test (or tearDown) asked the server to stop: an exit before that is a
    /// crash.
    private(set) var stopRequested = false

    /// SIGTERM (a graceful stop), without waiting.
    func terminate() {
        stopRequested = true
        process.signal(SIGTERM)
    }

    /// Waits at most `timeout` seconds for the process to end.
    func waitForExit(timeout: Double) -> ExitStatus? { process.wait(timeout: timeout) }

    /// SIGTERM, a bounded wait, then SIGKILL to the process group. Returns the status the
    /// graceful stop ended with, nil when it had to be killed.
    @discardableResult
    func stop(timeout: Double = 5) -> ExitStatus? {
        if let status = process.poll() {
            stopRequested = true
            return status
        }
        terminate()
        if let status = waitForExit(timeout: timeout) { return status }
        process.killGroup()
        return nil
    }

    /// The server and its workers.
    var processTree: [pid_t] { ProcFS.processTree(of: pid) }

    /// The largest peak resident set (VmHWM) over the server and its workers, in KiB.
    var peakResidentKiB: Int {
        processTree.compactMap { ProcFS.statusKiB($0, "VmHWM") }.max() ?? 0
    }

    /// The largest current resident set (VmRSS) over the server and its workers, in KiB.
    var residentKiB: Int {
        processTree.compactMap { ProcFS.statusKiB($0, "VmRSS") }.max() ?? 0
    }

    /// The last lines of stderr, for failure messages.
    var logTail: String { String(standardError.suffix(1500)) }
}
