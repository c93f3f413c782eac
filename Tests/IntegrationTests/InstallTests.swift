import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `make install` and `make uninstall` (issue 5), and a tool compiled with swiftc alone
/// against the installed libraptor.so. One install into a temporary DESTDIR serves these
/// tests (InstallTree.shared); the uninstall test makes its own.
@Suite(.exclusive, .removingTheSharedInstallTree) struct InstallTests {
    /// The Swift modules a client's `import Raptor` needs (packaging/install.sh).
    static let swiftModules = [
        "Raptor", "ArgumentParser", "ArgumentParserToolInfo", "Logging", "HTTPTypes", "Prometheus", "Atomics",
        "CoreMetrics",
    ]

    @Test func makeInstallPutsEveryPieceInItsDocumentedPlace() throws {
        let tree = try InstallTree.get()
        let files = FileManager.default
        let version = tree.version

        #expect(files.isExecutableFile(atPath: tree.path("bin/raptor-ev")))
        #expect(files.fileExists(atPath: tree.path("lib/libraptor.so.\(version)")))
        let link = try files.destinationOfSymbolicLink(atPath: tree.path("lib/libraptor.so"))
        #expect(link == "libraptor.so.\(version)")
        let library = try InstallCommand.dynamicSection(tree.path("lib/libraptor.so.\(version)"))
        #expect(library.contains("Library soname: [libraptor.so.\(version)]"), "\(library)")
        #expect(files.fileExists(atPath: tree.path("lib/raptor-ev/libswiftCore.so")))
        for module in Self.swiftModules {
            #expect(files.fileExists(atPath: tree.path("lib/swift/raptor/\(module).swiftmodule")), "\(module)")
        }
        let header = try String(contentsOfFile: tree.path("include/raptor/raptor.h"), encoding: .utf8)
        let sourceHeader = try String(
            contentsOfFile: InstallPaths.repository + "/CShims/CRaptor/include/raptor.h", encoding: .utf8)
        #expect(header == sourceHeader)
        let moduleMap = try String(contentsOfFile: tree.path("include/raptor/module.modulemap"), encoding: .utf8)
        #expect(moduleMap.contains("module CRaptor") && moduleMap.contains("header \"raptor.h\""), "\(moduleMap)")
        #expect(files.fileExists(atPath: tree.path("share/man/man1/raptor-ev.1")))
        #expect(files.fileExists(atPath: tree.path("share/doc/raptor-ev/examples/hello.swift")))

        // Every systemd unit in packaging/ is installed as an example, pointing at this
        // prefix's binary.
        for unit in try Self.packagedUnits() {
            let installed = tree.path("share/doc/raptor-ev/examples/\(unit)")
            #expect(files.fileExists(atPath: installed), "\(unit) is not installed")
            let text = (try? String(contentsOfFile: installed, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") where line.hasPrefix("ExecStart=") && line.contains("raptor-ev") {
                #expect(line.contains("\(tree.prefix)/bin/raptor-ev"), "\(unit): \(line)")
            }
        }

        // The manifest lists exactly what is there: every file and link, and the directories
        // (all of them: DESTDIR started empty).
        let manifest = try Self.manifest(of: tree.destdir, prefix: tree.prefix)
        let onDisk = try Self.tree(tree.destdir)
        #expect(Set(manifest.keys) == Set(onDisk.keys))
        for (path, kind) in onDisk { #expect(manifest[path] == kind, "\(path)") }
    }

    @Test func installedBinaryRunsWithItsOwnSwiftRuntimeAndReportsItsLibraries() throws {
        let tree = try InstallTree.get()
        let binary = tree.path("bin/raptor-ev")
        let version = try InstallCommand.succeed(["env", "-i", binary, "--version"], timeout: 30)
        #expect(
            version.range(
                of:
                    #"^raptor-ev \#(tree.version) \(libev 4\.\d+, http_parser 2\.\d+\.\d+, OpenSSL 3\.\d+\.\d+, nghttp2 1\.\d+\.\d+\)\n$"#,
                options: .regularExpression) != nil, "\(version)")

        for file in [binary, tree.path("lib/libraptor.so.\(tree.version)")] {
            let ldd = try InstallCommand.ldd(file)
            #expect(!ldd.contains("not found"), "\(ldd)")
            #expect(ldd.contains("libswiftCore.so => \(tree.root)"), "the Swift runtime comes from the prefix:\n\(ldd)")
            if let runtime = InstallPaths.toolchainRuntime {
                #expect(!ldd.contains(runtime), "\(file) loads from the toolchain:\n\(ldd)")
            }
            #expect(ldd.contains("libev.so.4") && ldd.contains("libhttp_parser.so.2.9"), "\(ldd)")
        }

        // It serves: the static files of a directory.
        let site = try InstallPaths.temporaryDirectory("install-site")
        defer { try? FileManager.default.removeItem(atPath: site) }
        try "installed\n".write(toFile: site + "/index.html", atomically: true, encoding: .utf8)
        let server = try InstallServer([binary, "serve", site], environment: [:])
        defer { server.stop() }
        let response = try server.get("/index.html")
        #expect(response.status == 200, "\(server.log)")
        #expect(response.body == "installed\n")
    }

    @Test func manPageIsGeneratedFromTheCommandLinesOwnHelp() throws {
        let tree = try InstallTree.get()
        let page = try String(contentsOfFile: tree.path("share/man/man1/raptor-ev.1"), encoding: .utf8)
        #expect(page.contains(".Dt RAPTOR-EV 1"), "\(String(page.prefix(500)))")
        #expect(page.contains("Generated by swift-argument-parser"))
        // Every long option of `raptor-ev serve --help` is in the page (`Fl -name`, or
        // `Fl x , -name` with a short name).
        let help = try InstallCommand.succeed(
            ["env", "-i", tree.path("bin/raptor-ev"), "serve", "--help"], timeout: 30)
        let options = Set(
            help.split(whereSeparator: { " ,\n".contains($0) }).filter {
                $0.hasPrefix("--") && $0.count > 2 && $0.dropFirst(2).allSatisfy { $0.isLetter || $0 == "-" }
            }.map(String.init))
        #expect(options.count > 15, "\(help)")
        for option in options.subtracting(["--help", "--version"]) {
            let name = option.dropFirst(2)
            #expect(
                page.contains("Fl -\(name)") || page.contains(" , -\(name)"), "\(option) is missing from the man page")
        }
        // It renders (man -l) when man is there.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/man") {
            let rendered = try InstallCommand.run(
                ["man", "-l", tree.path("share/man/man1/raptor-ev.1")],
                environment: ["MANWIDTH": "80", "MANPAGER": "cat"],
                timeout: 60)
            #expect(rendered.succeeded && rendered.output.contains("--max-body-size"), "\(rendered)")
        }
    }

    @Test func makeUninstallRemovesExactlyWhatInstallPutThere() throws {
        _ = try InstallTree.get()  // the build; this install links nothing new
        let destdir = try InstallPaths.temporaryDirectory("uninstall-destdir")
        defer { try? FileManager.default.removeItem(atPath: destdir) }
        // Something of someone else's in a directory install also uses.
        let prefix = "/opt/raptor-prefix"
        try FileManager.default.createDirectory(atPath: destdir + prefix + "/bin", withIntermediateDirectories: true)
        try "#!/bin/sh\n".write(toFile: destdir + prefix + "/bin/other-tool", atomically: true, encoding: .utf8)
        let before = try Self.tree(destdir)

        try InstallCommand.succeed(["make", "install", "DESTDIR=\(destdir)", "PREFIX=\(prefix)"], timeout: 600)
        #expect(FileManager.default.isExecutableFile(atPath: destdir + prefix + "/bin/raptor-ev"))
        // Installing again over it changes nothing (the second install first removes the first).
        let installed = try Self.tree(destdir)
        try InstallCommand.succeed(["make", "install", "DESTDIR=\(destdir)", "PREFIX=\(prefix)"], timeout: 600)
        let reinstalled = try Self.tree(destdir)
        #expect(reinstalled == installed)

        try InstallCommand.succeed(["make", "uninstall", "DESTDIR=\(destdir)", "PREFIX=\(prefix)"], timeout: 120)
        let uninstalled = try Self.tree(destdir)
        #expect(uninstalled == before)
        // Nothing left to uninstall: a clear error.
        let again = try InstallCommand.run(
            ["make", "uninstall", "DESTDIR=\(destdir)", "PREFIX=\(prefix)"], timeout: 120)
        #expect(!again.succeeded)
        #expect(again.output.contains("nothing to uninstall"), "\(again)")
    }

    /// README.md, "Using libraptor from another Swift tool", way 2: swiftc -I -L -lraptor.
    @Test func toolCompiledWithSwiftcAgainstTheInstalledLibraryServes() throws {
        let tree = try InstallTree.get()
        let work = try InstallPaths.temporaryDirectory("installed-client")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let program = try Self.compileInstalledExample(against: tree, in: work)

        let ldd = try InstallCommand.ldd(program)
        #expect(
            ldd.contains("libraptor.so.\(tree.version) => \(tree.path("lib"))/libraptor.so.\(tree.version)"), "\(ldd)")

        let server = try InstallServer([program, "--threads", "1"])
        defer { server.stop() }
        let body = try server.get("/").body
        #expect(body == "Hello from libraptor\n", "\(server.log)")
        let version = try server.get("/version")
        #expect(version.status == 200)
        #expect(version.body.hasPrefix("raptor-ev \(tree.version) (libev 4."), "\(version.body)")
        let status = try server.get("/nothing-here").status
        #expect(status == 404)
        #expect(server.stop() == .some(0), "\(server.log)")
    }

    /// The same, with the Swift runtime taken from the prefix as well (README.md): the tool
    /// then runs where no toolchain is installed.
    @Test func toolCompiledAgainstThePrefixAloneRunsWithoutTheToolchain() throws {
        let tree = try InstallTree.get()
        let work = try InstallPaths.temporaryDirectory("installed-client-alone")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let program = try Self.compileInstalledExample(
            against: tree, in: work,
            extraFlags: ["-no-toolchain-stdlib-rpath", "-Xlinker", "-rpath", "-Xlinker", tree.path("lib/raptor-ev")])
        let ldd = try InstallCommand.ldd(program)
        #expect(!ldd.contains("not found"), "\(ldd)")
        #expect(ldd.contains("libswiftCore.so => \(tree.path("lib/raptor-ev"))/libswiftCore.so"), "\(ldd)")
        if let runtime = InstallPaths.toolchainRuntime {
            #expect(!ldd.contains(runtime), "the tool loads from the toolchain:\n\(ldd)")
        }
        let expected = "raptor-ev \(tree.version) (libev 4."
        let printed = try InstallCommand.succeed(["env", "-i", program, "--version"], timeout: 30)
        #expect(printed.hasPrefix(expected))
        let hidden = try InstallCommand.withoutToolchain([program, "--version"])
        #expect(hidden.hasPrefix(expected), "\(hidden)")
    }

    // MARK: - Helpers

    /// Examples/installed/main.swift compiled in `work` as README.md shows it (swiftc -I -L
    /// -lraptor, an rpath to the prefix's lib) plus `extraFlags`; returns the program's path.
    static func compileInstalledExample(
        against tree: InstallTree, in work: String, extraFlags: [String] = []
    ) throws -> String {
        let program = work + "/hello"
        try InstallCommand.succeed(
            [
                "swiftc", "-O", InstallPaths.repository + "/Examples/installed/main.swift", "-o", program,
                "-I", tree.path("lib/swift/raptor"), "-I", tree.path("include/raptor"),
                "-L", tree.path("lib"), "-lraptor", "-Xlinker", "-rpath", "-Xlinker", tree.path("lib"),
            ] + extraFlags, in: work, timeout: 300)
        return program
    }

    /// packaging/*.service and packaging/*.socket: the units `make install` installs as examples.
    static func packagedUnits() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: InstallPaths.repository + "/packaging")
            .filter { $0.hasSuffix(".service") || $0.hasSuffix(".socket") }.sorted()
    }

    /// Every path under `root` (relative, with a leading slash) and its kind: f, l or d.
    static func tree(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        let files = FileManager.default
        guard let walker = files.enumerator(atPath: root) else { return result }
        while let relative = walker.nextObject() as? String {
            let path = root + "/" + relative
            let attributes = try files.attributesOfItem(atPath: path)
            let kind: String
            switch attributes[.type] as? FileAttributeType {
            case .typeSymbolicLink?: kind = "l"
            case .typeDirectory?: kind = "d"
            default: kind = "f"
            }
            result["/" + relative] = kind
        }
        return result
    }

    /// The install manifest as path -> kind, with the directories above the prefix that
    /// install had to create.
    static func manifest(of destdir: String, prefix: String) throws -> [String: String] {
        let text = try String(contentsOfFile: destdir + prefix + "/share/raptor-ev/install-manifest", encoding: .utf8)
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else {
                Issue.record("bad manifest line: \(line)")
                continue
            }
            result[String(parts[1])] = String(parts[0])
        }
        return result
    }
}
