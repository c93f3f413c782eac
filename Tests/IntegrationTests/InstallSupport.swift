import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

// What the Install* tests share: running commands with a time limit, a server started from
// an installed or example binary, and one `make install` for the whole run. Everything is
// named Install* so it stays apart from the other integration tests' harness.

/// The repository root, from this file's path (Tests/IntegrationTests/InstallSupport.swift).
enum InstallPaths {
    static let repository: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The Swift toolchain's runtime libraries (libswiftCore.so, ...): what an installed
    /// binary must never need.
    static let toolchainRuntime: String? = {
        guard let result = try? InstallCommand.run(["swift", "-print-target-info"], timeout: 60),
            result.succeeded,
            let object = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
            let paths = object["paths"] as? [String: Any],
            let runtime = (paths["runtimeLibraryPaths"] as? [String])?.first
        else { return nil }
        return runtime
    }()

    /// A new empty directory under the system's temporary directory.
    static func temporaryDirectory(_ name: String) throws -> String {
        let path = NSTemporaryDirectory() + "raptor-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// A command run to completion (or killed at its time limit), stdout and stderr together.
struct InstallCommand: CustomStringConvertible {
    let arguments: [String]
    /// The exit status; nil when it was killed at the time limit or by a signal.
    let status: Int32?
    let output: String
    let seconds: Double

    var succeeded: Bool { status == 0 }
    var description: String {
        "`\(arguments.joined(separator: " "))` "
            + (status.map { "exited with status \($0)" } ?? "did not finish (killed)")
            + " after \(String(format: "%.1f", seconds)) s; output (last 4000 bytes):\n\(output.suffix(4000))"
    }

    /// Runs `arguments` (the first looked up in PATH) in `directory` (default: the
    /// repository), with `environment` added to this process's, for at most `timeout`
    /// seconds: then its whole process group is killed.
    static func run(
        _ arguments: [String], in directory: String = InstallPaths.repository, environment: [String: String] = [:],
        timeout: Double
    ) throws -> InstallCommand {
        let started = Date()
        let process = try InstallProcess(arguments, in: directory, environment: environment)
        let status = process.wait(timeout: timeout)
        if status == nil { process.kill() }
        return InstallCommand(
            arguments: arguments, status: status ?? nil, output: process.output,
            seconds: Date().timeIntervalSince(started))
    }

    /// Runs it and fails the test unless it exits with status 0; returns its output.
    @discardableResult
    static func succeed(
        _ arguments: [String], in directory: String = InstallPaths.repository, environment: [String: String] = [:],
        timeout: Double, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> String {
        let result = try run(arguments, in: directory, environment: environment, timeout: timeout)
        guard result.succeeded else {
            Issue.record("\(result)", sourceLocation: sourceLocation)
            throw InstallFailure(description: "`\(arguments.joined(separator: " "))` failed")
        }
        return result.output
    }
}

struct InstallFailure: Error, CustomStringConvertible {
    let description: String
}

/// A child process for the Install* tests: stdout and stderr together in one file, removed
/// with it; killed with its whole process group (what it forked too) at the latest when it
/// goes away.
final class InstallProcess {
    private let child: ChildProcess
    private let outputDirectory: String

    init(_ arguments: [String], in directory: String, environment: [String: String]) throws {
        outputDirectory = try InstallPaths.temporaryDirectory("output")
        do {
            child = try ChildProcess(
                executable: arguments[0], arguments: Array(arguments.dropFirst()),
                outputDirectory: URL(fileURLWithPath: outputDirectory), name: "command", environment: environment,
                directory: directory, mergingStandardError: true)
        } catch {
            try? FileManager.default.removeItem(atPath: outputDirectory)
            throw error
        }
    }

    deinit {
        child.killGroup()
        try? FileManager.default.removeItem(atPath: outputDirectory)
    }

    var isRunning: Bool { child.isRunning }

    /// Waits at most `timeout` seconds: nil if it still runs, else its exit status (nil
    /// inside when a signal killed it).
    func wait(timeout: Double) -> Int32?? {
        switch child.wait(timeout: timeout) {
        case nil: nil
        case .exited(let code): .some(code)
        case .signaled: .some(nil)
        }
    }

    func signal(_ signal: Int32) { child.signal(signal) }

    /// SIGKILL to the whole process group, then reap.
    func kill() { child.killGroup() }

    var output: String { child.standardOutput }
}

/// A server from a built or installed binary, on an ephemeral port of 127.0.0.1: ready once
/// it logged its `listening` line, stopped with SIGTERM (SIGKILL to its group at the end).
final class InstallServer {
    let process: InstallProcess
    let port: UInt16

    init(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 20) throws {
        process = try InstallProcess(
            arguments + ["--bind", "tcp://127.0.0.1:0", "--log-format", "json"], in: InstallPaths.repository,
            environment: environment)
        let deadline = Date().addingTimeInterval(timeout)
        var found: UInt16?
        while found == nil && Date() < deadline && process.isRunning {
            found = Self.listeningPort(in: process.output)
            if found == nil { usleep(50_000) }
        }
        guard let found = found ?? Self.listeningPort(in: process.output) else {
            let log = process.output
            process.kill()
            throw InstallFailure(
                description: "no listening line within \(timeout) s from `\(arguments.joined(separator: " "))`:\n"
                    + log.suffix(3000))
        }
        port = found
    }

    /// The port of `{"message":"listening","url":"tcp://127.0.0.1:PORT"}`.
    static func listeningPort(in log: String) -> UInt16? {
        for line in log.split(separator: "\n") where line.contains("listening") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["message"] as? String == "listening", let url = object["url"] as? String,
                url.hasPrefix("tcp://"), let colon = url.lastIndex(of: ":")
            else { continue }
            if let port = UInt16(url[url.index(after: colon)...]) { return port }
        }
        return nil
    }

    /// `curl` GET: the status code and the body.
    func get(_ path: String) throws -> (status: Int, body: String) {
        let result = try InstallCommand.run(
            ["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"],
            timeout: 20)
        guard result.succeeded, let newline = result.output.lastIndex(of: "\n"),
            let status = Int(result.output[result.output.index(after: newline)...])
        else { throw InstallFailure(description: "GET \(path): \(result)") }
        return (status, String(result.output[..<newline]))
    }

    /// SIGTERM (a graceful stop); the exit status, or nil when it had to be killed.
    @discardableResult
    func stop() -> Int32?? {
        process.signal(SIGTERM)
        let status = process.wait(timeout: 15)
        process.kill()
        return status
    }

    var log: String { String(process.output.suffix(3000)) }

    deinit { process.kill() }
}

/// One `make install` (default PREFIX, /usr/local) into a temporary DESTDIR, shared by the
/// tests that need an installed tree: the release build behind it is the slow part.
struct InstallTree: Sendable {
    let destdir: String
    let prefix = "/usr/local"
    let version: String
    let makeOutput: String
    let seconds: Double

    var root: String { destdir + prefix }
    func path(_ relative: String) -> String { root + "/" + relative }

    /// The DESTDIR of `shared` once a test made it.
    private static let madeDestdir = Mutex<String?>(nil)

    static let shared: Result<InstallTree, any Error> = Result {
        let destdir = try InstallPaths.temporaryDirectory("install-destdir")
        let make = try InstallCommand.run(
            ["make", "--no-print-directory", "install", "DESTDIR=\(destdir)"], timeout: 1200)
        guard make.succeeded else {
            try? FileManager.default.removeItem(atPath: destdir)
            throw InstallFailure(description: "make install: \(make)")
        }
        let source = try String(
            contentsOfFile: InstallPaths.repository + "/Sources/Raptor/CommandLine/RaptorVersion.swift", encoding: .utf8
        )
        guard let line = source.split(separator: "\n").first(where: { $0.contains("static let current") }),
            let open = line.firstIndex(of: "\""), let close = line.lastIndex(of: "\""), open < close
        else { throw InstallFailure(description: "no version in RaptorVersion.swift") }
        madeDestdir.withLock { $0 = destdir }
        return InstallTree(
            destdir: destdir, version: String(line[line.index(after: open)..<close]), makeOutput: make.output,
            seconds: make.seconds)
    }

    static func get() throws -> InstallTree { try shared.get() }

    /// Removes the shared tree, if a test made it.
    static func removeShared() {
        if let destdir = madeDestdir.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: destdir) }
    }
}

/// `@Suite(.removingTheSharedInstallTree)`: the shared install tree goes once every test
/// of the suite ran (the first that needs it makes it).
struct RemovingTheSharedInstallTree: SuiteTrait, TestScoping {
    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        defer { InstallTree.removeShared() }
        try await function()
    }
}

extension Trait where Self == RemovingTheSharedInstallTree {
    static var removingTheSharedInstallTree: Self { Self() }
}

extension InstallCommand {
    /// `ldd FILE` with an empty environment: only the file's own rpath and the system's
    /// paths count.
    static func ldd(_ file: String) throws -> String {
        try succeed(["env", "-i", "/usr/bin/ldd", file], timeout: 30)
    }

    /// Runs `arguments` with an empty environment and the toolchain's runtime directory
    /// really gone: a private mount namespace with an empty tmpfs over it. Throws (the test
    /// fails, saying why) where that cannot be done: the check would otherwise pass unseen.
    static func withoutToolchain(_ arguments: [String]) throws -> String {
        guard let runtime = InstallPaths.toolchainRuntime else {
            throw InstallFailure(
                description: "cannot hide the toolchain: `swift -print-target-info` names no runtime library path")
        }
        let probe = try run(["unshare", "--mount", "true"], timeout: 30)
        guard probe.succeeded else {
            throw InstallFailure(
                description:
                    "cannot hide the toolchain: `unshare --mount` fails here (it needs root or user namespaces): \(probe)"
            )
        }
        return try succeed(
            [
                "unshare", "--mount", "sh", "-c",
                #"mount -t tmpfs none "$1" && ! test -e "$1/libswiftCore.so" && shift && exec env -i "$@""#,
                "sh", runtime,
            ] + arguments, timeout: 30)
    }

    /// The ELF dynamic section (readelf -d).
    static func dynamicSection(_ file: String) throws -> String {
        try succeed(["readelf", "-d", file], timeout: 30)
    }
}
