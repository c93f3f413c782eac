import Foundation
import Testing

/// The raw HTTP/2 clients of `Tests/Clients` (`h2_conformance.py`, `h2_attacks.py`, on
/// `h2_wire.py`: frames built by hand, Python's `hpack` package; `h2_client.py`, a normal
/// client on Python's `h2` package, which the suites' short scripts import; both packages
/// installed by `make test-deps`). A run prints one JSON verdict per case; `expectAllPassed` turns each
/// failed one into an issue that names the case and what the server did.
enum HTTP2Clients {
    /// One case's outcome as the client judged it from the RFC.
    struct Verdict: CustomStringConvertible {
        let name: String
        let passed: Bool
        let detail: String
        /// Everything else the line carries (figures of an attack: bytes sent, probe counts).
        let figures: [String: Any]

        var description: String { "\(name): \(passed ? "ok" : "FAILED"): \(detail)" }

        func integer(_ key: String) -> Int? { figures[key] as? Int }
    }

    struct Run {
        let result: ExternalClient.Result
        let verdicts: [Verdict]
    }

    static var directory: URL { Binaries.repositoryRoot.appendingPathComponent("Tests/Clients") }

    /// `script` against `server` (its port, and over TLS its CA) with `arguments`, bounded
    /// by `timeout` seconds.
    static func run(
        _ script: String, against server: ServerProcess, _ arguments: [String], timeout: Double,
        outputDirectory: URL
    ) throws -> Run {
        var all = [directory.appendingPathComponent(script).path, "--port", "\(server.port)"]
        if server.transport == .tls, let ca = server.transport.caFile { all += ["--tls", "--ca", ca] }
        let result = try ExternalClient.run(
            "python3", all + arguments, timeout: timeout, outputDirectory: outputDirectory)
        let verdicts = result.standardOutput.split(separator: "\n").compactMap { line -> Verdict? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let name = object["case"] as? String, let passed = object["ok"] as? Bool
            else { return nil }
            return Verdict(
                name: name, passed: passed, detail: object["detail"] as? String ?? "",
                figures: object.filter { !["case", "ok", "detail"].contains($0.key) })
        }
        return Run(result: result, verdicts: verdicts)
    }

    /// The client ran to its end, reported at least `atLeast` cases, and every one passed
    /// (each failure its own issue, prefixed with `context`).
    static func expectAllPassed(
        _ run: Run, atLeast: Int = 1, _ context: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            run.result.succeeded, "\(context): the client did not finish: \(run.result)",
            sourceLocation: sourceLocation)
        #expect(
            run.verdicts.count >= atLeast,
            "\(context): \(run.verdicts.count) verdicts, want at least \(atLeast): \(run.result)",
            sourceLocation: sourceLocation)
        for verdict in run.verdicts where !verdict.passed {
            Issue.record("\(context): \(verdict)", sourceLocation: sourceLocation)
        }
    }
}
