import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What the command-line tests share (CommandLineErrorTests, BindTests): free and taken
/// ports, and a run of the binary that must end in a one-line error.
extension ServerSuite {
    /// A port nothing listens on right now (bound to port 0, read back, released).
    func freePort() throws -> UInt16 {
        let (fd, port) = try listeningSocket()
        Glibc.close(fd)
        return port
    }

    /// A socket listening on 127.0.0.1 at an ephemeral port; the caller closes it.
    func listeningSocket() throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, bound else { throw RawClient.Failure.socket("cannot make a listening socket") }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    /// Runs `binary` with `arguments`; expects it to exit non-zero within 5 s with one error
    /// line on stderr that contains `mention`, and never logged a listening line. The
    /// error may be followed by a line pointing to `--help`, nothing else.
    func expectCommandLineError(
        _ arguments: [String], mentioning mention: String, binary: String = Binaries.testApp,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let command = "\(URL(fileURLWithPath: binary).lastPathComponent) \(arguments.joined(separator: " "))"
        let process = try ChildProcess(
            executable: binary, arguments: arguments, outputDirectory: workDirectory, name: "cli")
        let (status, seconds) = measureSeconds { process.wait(timeout: 5) }
        guard let status else {
            process.killGroup()
            Issue.record(
                "\(command) still ran after 5 s; stderr: \(process.standardError)", sourceLocation: sourceLocation)
            return
        }
        guard case .exited(let code) = status, code != 0 else {
            Issue.record("\(command): \(status), expected a non-zero exit status", sourceLocation: sourceLocation)
            return
        }
        #expect(seconds < 5, sourceLocation: sourceLocation)
        let stderr = process.standardError
        let lines = stderr.split(separator: "\n").map(String.init).filter {
            !$0.trimmingCharacters(in: .whitespaces).isEmpty
        }
        let errorLines = lines.filter { !($0.contains("--help") && !$0.contains(mention)) }
        #expect(
            errorLines.count == 1, "\(command): one error line expected; stderr:\n\(stderr)",
            sourceLocation: sourceLocation)
        #expect(
            errorLines.first?.contains(mention) ?? false,
            "\(command): the error must name \(mention); stderr:\n\(stderr)", sourceLocation: sourceLocation)
        #expect(ServerProcess.listeningPort(in: stderr) == nil, "\(command) listened", sourceLocation: sourceLocation)
        #expect(
            process.standardOutput.isEmpty, "\(command) wrote to stdout: \(process.standardOutput)",
            sourceLocation: sourceLocation)
    }

    /// Expects nothing to accept connections on `port`.
    func expectNothingListens(on port: UInt16, sourceLocation: SourceLocation = #_sourceLocation) {
        if let client = try? RawClient(port: port, timeout: 1) {
            client.close()
            Issue.record("something listens on port \(port)", sourceLocation: sourceLocation)
        }
    }
}
