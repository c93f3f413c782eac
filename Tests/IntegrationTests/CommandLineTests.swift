import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Command-line errors: a bad flag value or a port already in use ends the process quickly
/// with a non-zero status and a one-line error, and nothing listens.
class CommandLineTestCase: ServerTestCase {
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

    /// Runs `binary` with `arguments`; asserts it exits non-zero within 5 s with one error
    /// line on stderr that contains `mention`, and never logged a listening line. The
    /// error may be followed by a line pointing to `--help`, nothing else.
    func expectCommandLineError(
        _ arguments: [String], mentioning mention: String, binary: String = Binaries.testApp,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let command = "\(URL(fileURLWithPath: binary).lastPathComponent) \(arguments.joined(separator: " "))"
        let process = try ChildProcess(
            executable: binary, arguments: arguments, outputDirectory: workDirectory, name: "cli")
        let (status, seconds) = measureSeconds { process.wait(timeout: 5) }
        guard let status else {
            process.killGroup()
            return XCTFail("\(command) still ran after 5 s; stderr: \(process.standardError)", file: file, line: line)
        }
        guard case .exited(let code) = status, code != 0 else {
            return XCTFail("\(command): \(status), expected a non-zero exit status", file: file, line: line)
        }
        XCTAssertLessThan(seconds, 5, file: file, line: line)
        let stderr = process.standardError
        let lines = stderr.split(separator: "\n").map(String.init).filter {
            !$0.trimmingCharacters(in: .whitespaces).isEmpty
        }
        let errorLines = lines.filter { !($0.contains("--help") && !$0.contains(mention)) }
        XCTAssertEqual(
            errorLines.count, 1, "\(command): one error line expected; stderr:\n\(stderr)", file: file, line: line)
        XCTAssertTrue(
            errorLines.first?.contains(mention) ?? false,
            "\(command): the error must name \(mention); stderr:\n\(stderr)",
            file: file, line: line)
        XCTAssertNil(ServerProcess.listeningPort(in: stderr), "\(command) listened", file: file, line: line)
        XCTAssertTrue(
            process.standardOutput.isEmpty, "\(command) wrote to stdout: \(process.standardOutput)", file: file,
            line: line)
    }

    /// Asserts nothing accepts connections on `port`.
    func assertNothingListens(on port: UInt16, file: StaticString = #filePath, line: UInt = #line) {
        if let client = try? RawClient(port: port, timeout: 1) {
            client.close()
            XCTFail("something listens on port \(port)", file: file, line: line)
        }
    }

    func badThreadsValueFails() throws {
        let port = try freePort()
        try expectCommandLineError(["--bind", "tcp://127.0.0.1:\(port)", "--threads", "-1"], mentioning: "--threads")
        assertNothingListens(on: port)
    }

    func badSizeValueFails() throws {
        let port = try freePort()
        try expectCommandLineError(
            ["--bind", "tcp://127.0.0.1:\(port)", "--threads", String(threads), "--max-body-size", "12x"],
            mentioning: "--max-body-size")
        try expectCommandLineError(
            [
                "serve", workDirectory.path, "--bind", "tcp://127.0.0.1:\(port)", "--threads", String(threads),
                "--max-body-size", "12x",
            ],
            mentioning: "--max-body-size", binary: Binaries.raptorEV)
        assertNothingListens(on: port)
    }

    func badBindValueFails() throws {
        try expectCommandLineError(["--bind", "http://x", "--threads", String(threads)], mentioning: "--bind")
    }

    func badDurationValueFails() throws {
        let port = try freePort()
        try expectCommandLineError(
            ["--bind", "tcp://127.0.0.1:\(port)", "--threads", String(threads), "--request-timeout", "soon"],
            mentioning: "--request-timeout")
        assertNothingListens(on: port)
    }

    func portInUseFails() throws {
        let (fd, port) = try listeningSocket()
        defer { Glibc.close(fd) }
        try expectCommandLineError(
            ["--bind", "tcp://127.0.0.1:\(port)", "--threads", String(threads), "--log-format", "json"],
            mentioning: String(port))
    }
}

final class CommandLinePoolTests: CommandLineTestCase {
    override class var threads: Int { 5 }
    func testBadThreadsValueFails() throws { try badThreadsValueFails() }
    func testBadSizeValueFails() throws { try badSizeValueFails() }
    func testBadBindValueFails() throws { try badBindValueFails() }
    func testBadDurationValueFails() throws { try badDurationValueFails() }
    func testPortInUseFails() throws { try portInUseFails() }
}

final class CommandLineInlineTests: CommandLineTestCase {
    override class var threads: Int { 0 }
    // No testBadThreadsValueFails: the value of --threads is the mode itself.
    func testBadSizeValueFails() throws { try badSizeValueFails() }
    func testBadBindValueFails() throws { try badBindValueFails() }
    func testBadDurationValueFails() throws { try badDurationValueFails() }
    func testPortInUseFails() throws { try portInUseFails() }
}
