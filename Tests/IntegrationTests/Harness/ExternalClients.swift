import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Real clients, run as separate processes with a hard time limit: curl and Python's
/// http.client, as a user would.
enum ExternalClient {
    struct Result: CustomStringConvertible {
        /// nil when it had to be killed at the time limit.
        let status: ExitStatus?
        let standardOutput: String
        let standardError: String

        var succeeded: Bool { status == .exited(0) }
        var description: String {
            "\(status?.description ?? "killed at the time limit"); stdout: \(standardOutput.suffix(1500).debugDescription);"
                + " stderr: \(standardError.suffix(1500).debugDescription)"
        }
    }

    /// Runs `executable` (looked up in PATH) and waits at most `timeout` seconds.
    static func run(_ executable: String, _ arguments: [String], timeout: Double, outputDirectory: URL) throws -> Result
    {
        let name = "\(URL(fileURLWithPath: executable).lastPathComponent)-\(UUID().uuidString.prefix(8))"
        let process = try ChildProcess(
            executable: executable, arguments: arguments, outputDirectory: outputDirectory, name: name)
        let status = process.wait(timeout: timeout)
        if status == nil { process.killGroup() }
        return Result(status: status, standardOutput: process.standardOutput, standardError: process.standardError)
    }

    /// curl with `--max-time` set and the outer limit a little longer.
    static func curl(_ arguments: [String], timeout: Double = 15, outputDirectory: URL) throws -> Result {
        try run(
            "curl", ["--max-time", String(Int(timeout))] + arguments, timeout: timeout + 5,
            outputDirectory: outputDirectory)
    }

    /// A Python 3 script (given as text); `arguments` become sys.argv[1...].
    static func python(_ script: String, arguments: [String], timeout: Double = 15, outputDirectory: URL) throws
        -> Result
    {
        try run("python3", ["-c", script] + arguments, timeout: timeout, outputDirectory: outputDirectory)
    }

    /// Python defining `connect(url, timeout=10)`: an http.client connection to the host
    /// and port of `url`, over the transport its scheme names. Prepended to the scripts a
    /// suite runs against a server (ServerSuite.python).
    /// What a Python script against a server starts with: `connect(url)` opens an
    /// http.client connection over the server's transport (HTTPS verified against `caFile`).
    static func pythonConnect(caFile: String?) -> String {
        """
        import http.client, ssl, urllib.parse

        def connect(url, timeout=10):
            parts = urllib.parse.urlsplit(url)
            if parts.scheme == "http":
                return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
            if parts.scheme == "https":
                context = ssl.create_default_context(cafile=\(caFile.map { "\"\($0)\"" } ?? "None"))
                return http.client.HTTPSConnection("localhost", parts.port, timeout=timeout, context=context)
            raise SystemExit("no Python client for %s:// yet (Harness/ExternalClients.swift)" % parts.scheme)


        """
    }

    static func isAvailable(_ executable: String) -> Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(executable)")
        }
    }
}
