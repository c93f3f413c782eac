import Foundation
import Testing

/// README.md, "Using libraptor from another Swift tool", way 1: a SwiftPM package
/// (Examples/hello) depending on this repository by path, with its own handler and the
/// whole raptor-ev command line. Its build (debug, its own dependency graph) goes to
/// .build/examples/hello, so `make clean` removes it and git never sees it.
@Suite(.exclusive) struct InstallExampleTests {
    @Test func swiftPMExamplePackageBuildsAndServesItsOwnHandler() throws {
        let scratch = InstallPaths.repository + "/.build/examples/hello"
        try InstallCommand.succeed(
            ["swift", "build", "--package-path", "Examples/hello", "--scratch-path", scratch], timeout: 1200)
        let binPath = try InstallCommand.succeed(
            ["swift", "build", "--package-path", "Examples/hello", "--scratch-path", scratch, "--show-bin-path"],
            timeout: 120)
        // The last line is the path (SwiftPM may say something before it).
        let binary = (binPath.split(separator: "\n").last.map(String.init) ?? "") + "/hello"
        #expect(FileManager.default.isExecutableFile(atPath: binary), "\(binary)")

        // The whole command line: `serve --help` lists raptor-ev's flags.
        let help = try InstallCommand.succeed([binary, "serve", "--help"], timeout: 30)
        #expect(help.contains("--max-body-size") && help.contains("--keepalive-timeout"), "\(help)")

        let server = try InstallServer([binary, "--threads", "0"])
        defer { server.stop() }
        let body = try server.get("/").body
        #expect(body == "Hello from Examples/hello\n", "\(server.log)")
        let status = try server.get("/elsewhere").status
        #expect(status == 404)
        #expect(server.stop() == .some(0), "\(server.log)")

        // The per-worker example of the same package: each of two workers connects its own
        // pool in its factory and closes it, as a service, after the drain.
        let perWorker = try InstallServer([binary.dropLast("hello".count) + "per-worker", "--workers", "2"])
        defer { perWorker.stop() }
        let answer = try perWorker.get("/").body
        #expect(
            answer.hasPrefix("Hello from worker ") && answer.hasSuffix(" (connection 4)\n"), "\(perWorker.log)")
        let missing = try perWorker.get("/elsewhere").status
        #expect(missing == 404, "a NotFound thrown as an HTTPResponseError")
        #expect(perWorker.stop() == .some(0), "\(perWorker.log)")
        let lines = perWorker.process.output.split(separator: "\n")
        #expect(lines.filter { $0.contains("\"pool connected\"") }.count == 2, "\(perWorker.log)")
        #expect(lines.filter { $0.contains("\"pool closed\"") }.count == 2, "\(perWorker.log)")

        // The async example: an async handler (each request a Task) with an async pool per
        // worker, a streamed body and a 404 thrown as an HTTPResponseError.
        let async = try InstallServer([binary.dropLast("hello".count) + "async", "--workers", "2"])
        defer { async.stop() }
        let greeting = try async.get("/").body
        #expect(greeting.hasPrefix("Hello from async worker ") && greeting.contains("(connection "), "\(async.log)")
        let ticks = try async.get("/ticks?n=3").body
        #expect(ticks == "tick 1\ntick 2\ntick 3\n", "\(async.log)")
        #expect(try async.get("/elsewhere").status == 404)
        #expect(async.stop() == .some(0), "\(async.log)")
        let asyncLines = async.process.output.split(separator: "\n")
        #expect(asyncLines.filter { $0.contains("\"pool closed\"") }.count == 2, "\(async.log)")
    }
}
