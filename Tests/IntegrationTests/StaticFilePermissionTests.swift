import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a file or directory the server cannot read gets. Root reads everything whatever
/// the mode bits, and CI runs as root: so the server runs as `nobody` here (setpriv drops
/// the user, its group and the supplementary groups before exec), and the tree is made
/// readable to everyone except what the test takes away.
@Suite(.concurrent) final class StaticFilePermissionTests: ServerSuite {
    /// `command` as an unprivileged user: under setpriv when the tests run as root, as is
    /// otherwise (the test's own user cannot read a file of mode 000 either).
    static func unprivileged(_ command: [String]) -> (binary: String, arguments: [String]) {
        guard geteuid() == 0 else { return (command[0], Array(command.dropFirst())) }
        return ("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"] + command)
    }

    /// A served tree nobody can read: mode 755 directories, 644 files.
    func makeSite() throws -> URL {
        let site = try makeTemporaryDirectory()
        #expect(chmod(site.path, 0o755) == 0)
        try "readable\n".write(to: site.appendingPathComponent("open.txt"), atomically: false, encoding: .utf8)
        try "secret\n".write(to: site.appendingPathComponent("closed.txt"), atomically: false, encoding: .utf8)
        #expect(chmod(site.appendingPathComponent("open.txt").path, 0o644) == 0)
        #expect(chmod(site.appendingPathComponent("closed.txt").path, 0) == 0)
        return site
    }

    // Over TCP: as nobody the server could not read the TLS tests' private key (root's,
    // mode 600), and what is tested here does not depend on the transport.
    @Test(arguments: ServerMode.Dispatch.allCases.map { ServerMode($0, .tcp) })
    func unreadableFileGets404(_ mode: ServerMode) throws {
        let site = try makeSite()
        let (binary, leading) = Self.unprivileged([Binaries.raptorEV, "serve", site.path])
        let server = try startServer(mode, binary: binary, leading: leading, flags: [])
        let open = try exchange(server, Requests.get("/open.txt"))
        expectEqual(open.status, 200, "the server runs and reads what it may")
        expectEqual(open.bodyText, "readable\n")
        let closed = try exchange(server, Requests.get("/closed.txt"))
        expectEqual(closed.status, 404, "\(closed.rawHead)")
        #expect(!closed.bodyText.contains("secret"))
    }

    @Test(arguments: ServerMode.Dispatch.allCases)
    func unreadableRootIsACommandLineError(_ dispatch: ServerMode.Dispatch) throws {
        let site = try makeSite()
        #expect(chmod(site.path, 0o300) == 0)
        defer { chmod(site.path, 0o755) }
        let (binary, arguments) = Self.unprivileged(
            [Binaries.raptorEV, "serve", site.path, "--bind", "tcp://127.0.0.1:0"]
                + dispatch.serverFlags(besides: []))
        try expectCommandLineError(
            arguments, mentioning: "'\(site.path)' is not readable (permission denied)", binary: binary)
    }
}
