import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Command-line errors: a bad flag value or a port already in use ends the process quickly
/// with a non-zero status and a one-line error, and nothing listens. In both dispatches
/// (their flags beside the bad one): inline runs without a master.
@Suite(.concurrent) final class CommandLineErrorTests: ServerSuite {
    /// Not per dispatch: the value of --threads is the dispatch itself.
    @Test func badThreadsValueFails() throws {
        let port = try freePort()
        try expectCommandLineError(["--bind", "tcp://127.0.0.1:\(port)", "--threads", "-1"], mentioning: "--threads")
        expectNothingListens(on: port)
    }

    @Test(arguments: ServerMode.Dispatch.allCases)
    func badSizeValueFails(_ dispatch: ServerMode.Dispatch) throws {
        let port = try freePort()
        let flags = dispatch.serverFlags(besides: [])
        try expectCommandLineError(
            ["--bind", "tcp://127.0.0.1:\(port)", "--max-body-size", "12x"] + flags, mentioning: "--max-body-size")
        try expectCommandLineError(
            ["serve", workDirectory.path, "--bind", "tcp://127.0.0.1:\(port)", "--max-body-size", "12x"] + flags,
            mentioning: "--max-body-size", binary: Binaries.raptorEV)
        expectNothingListens(on: port)
    }

    @Test(arguments: ServerMode.Dispatch.allCases)
    func badBindValueFails(_ dispatch: ServerMode.Dispatch) throws {
        try expectCommandLineError(["--bind", "http://x"] + dispatch.serverFlags(besides: []), mentioning: "--bind")
    }

    @Test(arguments: ServerMode.Dispatch.allCases)
    func badDurationValueFails(_ dispatch: ServerMode.Dispatch) throws {
        let port = try freePort()
        try expectCommandLineError(
            ["--bind", "tcp://127.0.0.1:\(port)", "--request-timeout", "soon"] + dispatch.serverFlags(besides: []),
            mentioning: "--request-timeout")
        expectNothingListens(on: port)
    }

    @Test(arguments: ServerMode.Dispatch.allCases)
    func portInUseFails(_ dispatch: ServerMode.Dispatch) throws {
        let (fd, port) = try listeningSocket()
        defer { Glibc.close(fd) }
        try expectCommandLineError(
            ["--bind", "tcp://127.0.0.1:\(port)", "--log-format", "json"] + dispatch.serverFlags(besides: []),
            mentioning: String(port))
    }
}
