import Foundation
import XCTest

/// README.md, "Using libraptor from another Swift tool", way 1: a SwiftPM package
/// (Examples/hello) depending on this repository by path, with its own handler and the
/// whole raptor-ev command line. Its build (debug, its own dependency graph) goes to
/// .build/examples/hello, so `make clean` removes it and git never sees it.
final class InstallExampleTests: XCTestCase {
    func testSwiftPMExamplePackageBuildsAndServesItsOwnHandler() throws {
        let scratch = InstallPaths.repository + "/.build/examples/hello"
        try InstallCommand.succeed(
            ["swift", "build", "--package-path", "Examples/hello", "--scratch-path", scratch], timeout: 1200)
        let binPath = try InstallCommand.succeed(
            ["swift", "build", "--package-path", "Examples/hello", "--scratch-path", scratch, "--show-bin-path"],
            timeout: 120)
        // The last line is the path (SwiftPM may say something before it).
        let binary = (binPath.split(separator: "\n").last.map(String.init) ?? "") + "/hello"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary), binary)

        // The whole command line: `serve --help` lists raptor-ev's flags.
        let help = try InstallCommand.succeed([binary, "serve", "--help"], timeout: 30)
        XCTAssertTrue(help.contains("--max-body-size") && help.contains("--keepalive-timeout"), help)

        let server = try InstallServer([binary, "--threads", "0"])
        defer { server.stop() }
        XCTAssertEqual(try server.get("/").body, "Hello from Examples/hello\n", server.log)
        XCTAssertEqual(try server.get("/elsewhere").status, 404)
        XCTAssertEqual(server.stop(), .some(0), server.log)
    }
}
