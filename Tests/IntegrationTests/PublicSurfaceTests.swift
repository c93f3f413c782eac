import Foundation
import Testing

/// What application code cannot do with Raptor's public API (issue 12), checked by the
/// compiler: each program is compiled against the Raptor module this build made
/// (`swiftc -emit-sil`: escapes are found by the SIL passes) and must fail with the
/// diagnostic named, while the control programs compile.
///
/// - A `Request` points into the connection's buffer, which holds the next request once
///   the response is finished: `Request` and its views are `~Escapable`, so code that
///   would keep one does not compile.
/// - No C type is public: Raptor imports CRaptor as internal, so `rv_` types and the
///   engine's `Worker` are not visible through `import Raptor`.
@Suite(.exclusive) struct PublicSurfaceTests {
    struct Program: Sendable, CustomTestStringConvertible {
        let name: String
        let source: String
        /// nil: must compile. Else one of these must be in the compiler's errors.
        let expected: [String]?
        var testDescription: String { name }
    }

    static let programs: [Program] = [
        Program(
            name: "reads everything inside the handler",
            source: """
                let handler: Handler = { request in
                    let type = request.headers[.contentType] ?? "-"
                    var reader = request.body.reader()
                    let bytes = try reader.read(upTo: 10)
                    let fields = request.headers.all
                    let path = request.path
                    return Response(body: .stream { writer in try writer.write("\\(type) \\(bytes) \\(fields) \\(path)") })
                }
                _ = handler
                """, expected: nil),
        Program(
            name: "keeps the request in an escaping closure",
            source: """
                nonisolated(unsafe) var later: (() -> String)?
                let handler: Handler = { request in
                    later = { request.path }
                    return Response()
                }
                """, expected: ["lifetime-dependent variable 'request' escapes its scope"]),
        Program(
            name: "keeps the header fields in an escaping closure",
            source: """
                nonisolated(unsafe) var later: (() -> String?)?
                let handler: Handler = { request in
                    let headers = request.headers
                    later = { headers[.contentType] }
                    return Response()
                }
                """, expected: ["lifetime-dependent variable 'headers' escapes its scope"]),
        Program(
            name: "reads the request from a streamed body",
            source: """
                let handler: Handler = { request in
                    Response(body: .stream { writer in try writer.write(request.path) })
                }
                """,
            expected: [
                "lifetime-dependent variable 'request' escapes its scope",
                "capture of 'request' with non-Sendable type 'Request'",
            ]),
        Program(
            name: "reads the request in a Task",
            source: """
                let handler: Handler = { request in
                    Task { print(request.path) }
                    return Response()
                }
                """, expected: ["lifetime-dependent variable 'request' escapes its scope"]),
        Program(
            name: "stores requests",
            source: "nonisolated(unsafe) var kept: [Request] = []",
            expected: ["type 'Request' does not conform to protocol 'Escapable'"]),
        Program(
            name: "returns a body reader",
            source: "func reader(of request: Request) -> RequestBodyReader { request.body.reader() }",
            expected: ["a function cannot return a ~Escapable result"]),
        Program(
            name: "names the engine's C stats type",
            source: "func peek(_ stats: UnsafeMutablePointer<rv_stats>) {}",
            expected: ["cannot find type 'rv_stats' in scope"]),
        Program(
            name: "calls the engine's C functions",
            source: "rv_worker_request_stop()",
            expected: ["cannot find 'rv_worker_request_stop' in scope"]),
        Program(
            name: "runs the internal Worker",
            source: "let worker: Worker? = nil",
            expected: ["cannot find type 'Worker' in scope"]),
    ]

    @Test(arguments: programs)
    func compiles(_ program: Program) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "raptor-surface-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let modules = Binaries.directory + "/Modules"
        // The C modules a client of Raptor loads: the shim, and swift-atomics' (through
        // swift-prometheus), from the build's checkouts.
        let shim = Binaries.repositoryRoot.appendingPathComponent("CShims/CRaptor/include").path
        let atomics = URL(fileURLWithPath: Binaries.directory).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("checkouts/swift-atomics/Sources/_AtomicsShims/include").path
        let file = directory.appendingPathComponent("program.swift")
        try ("import Raptor\n" + program.source + "\n").write(to: file, atomically: true, encoding: .utf8)
        let compiler = try ChildProcess(
            executable: "swiftc",
            arguments: [
                "-swift-version", "6", "-emit-sil", "-o", "/dev/null", file.path, "-I", modules, "-I", shim, "-I",
                atomics,
            ],
            outputDirectory: directory, name: "swiftc", mergingStandardError: true)
        let status = compiler.wait(timeout: 180)
        let output = compiler.standardOutput
        guard let expected = program.expected else {
            #expect(status == .exited(0), "must compile:\n\(output)")
            return
        }
        #expect(status == .exited(1), "must not compile:\n\(output)")
        #expect(
            expected.contains { output.contains("error: " + $0) }, "expected one of \(expected), got:\n\(output)")
    }
}
