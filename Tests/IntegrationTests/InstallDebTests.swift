import Foundation
import Testing

/// `make deb` (issue 5): a .deb with the binary, libraptor, the man page, the units and the
/// Swift runtime in /usr/lib/raptor-ev; Depends on Debian's libev and http_parser, never on
/// the toolchain. Installed into a throwaway root with dpkg-deb -x and run from there.
@Suite(.exclusive) struct InstallDebTests {
    @Test func debInstallsIntoAThrowawayRootAndRunsWithoutTheToolchain() throws {
        let make = try InstallCommand.succeed(["make", "--no-print-directory", "deb"], timeout: 1200)
        // deb.sh prints the package's path last.
        let package = make.split(separator: "\n").last { $0.hasSuffix(".deb") }.map(String.init) ?? ""
        #expect(FileManager.default.fileExists(atPath: package), "\(make)")

        let fields = try InstallCommand.succeed(
            ["dpkg-deb", "--field", package, "Package", "Version", "Depends"], timeout: 60)
        #expect(fields.contains("Package: raptor-ev"), "\(fields)")
        let depends = fields.split(separator: "\n").first { $0.hasPrefix("Depends:") }.map(String.init) ?? ""
        for required in ["libev4", "libhttp-parser2.9", "libc6"] {
            #expect(depends.contains(required), "Depends lacks \(required): \(depends)")
        }
        #expect(!depends.lowercased().contains("swift"), "Depends names the toolchain: \(depends)")

        let contents = try InstallCommand.succeed(["dpkg-deb", "--contents", package], timeout: 60)
        let version = fields.split(separator: "\n").first { $0.hasPrefix("Version:") }?.split(separator: " ").last ?? ""
        var expected = [
            "./usr/bin/raptor-ev", "./usr/lib/libraptor.so.\(version)",
            "./usr/lib/libraptor.so -> libraptor.so.\(version)",
            "./usr/lib/raptor-ev/libswiftCore.so", "./usr/share/man/man1/raptor-ev.1.gz",
            "./usr/share/doc/raptor-ev/copyright", "./usr/lib/swift/raptor/Raptor.swiftmodule",
            "./usr/include/raptor/raptor.h",
        ]
        expected += try InstallTests.packagedUnits().map { "./usr/share/doc/raptor-ev/examples/\($0)" }
        for path in expected { #expect(contents.contains(path), "\(path) is not in the package:\n\(contents)") }

        let root = try InstallPaths.temporaryDirectory("deb-root")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try InstallCommand.succeed(["dpkg-deb", "-x", package, root], timeout: 120)
        let binary = root + "/usr/bin/raptor-ev"

        // No environment, no LD_LIBRARY_PATH: the rpath finds the package's own runtime.
        let output = try InstallCommand.succeed(
            ["env", "-i", "PATH=/usr/bin:/bin", "LD_LIBRARY_PATH=", binary, "--version"], timeout: 30)
        #expect(output.hasPrefix("raptor-ev \(version) (libev 4."), "\(output)")
        for file in [binary, root + "/usr/lib/libraptor.so.\(version)"] {
            let ldd = try InstallCommand.ldd(file)
            #expect(!ldd.contains("not found"), "\(ldd)")
            #expect(ldd.contains("libswiftCore.so => \(root)/usr/"), "\(ldd)")
            if let runtime = InstallPaths.toolchainRuntime {
                #expect(!ldd.contains(runtime), "\(file) loads from the toolchain:\n\(ldd)")
            }
        }

        // With the toolchain's runtime directory really gone.
        let hidden = try InstallCommand.withoutToolchain([binary, "--version"])
        #expect(hidden.hasPrefix("raptor-ev \(version) ("), "\(hidden)")

        // And it serves from there.
        let site = try InstallPaths.temporaryDirectory("deb-site")
        defer { try? FileManager.default.removeItem(atPath: site) }
        try "from the package\n".write(toFile: site + "/index.html", atomically: true, encoding: .utf8)
        let server = try InstallServer(["env", "-i", binary, "serve", site])
        defer { server.stop() }
        let response = try server.get("/")
        #expect(response.status == 200, "\(server.log)")
        #expect(response.body == "from the package\n")
    }
}
