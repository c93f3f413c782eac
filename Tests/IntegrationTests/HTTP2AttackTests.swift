import Foundation
import Testing

/// The HTTP/2 attacks of 2019-2024 sent for real by `Tests/Clients/h2_attacks.py` (its
/// docstring says what each one must end in): while one runs, a normal h2 client (Python's
/// h2) keeps requesting `/` on its own connections and must always be answered; after it,
/// the server is still up, its peak resident memory grew by less than `memoryBound`, and
/// curl with --http2-prior-knowledge gets its answer.
///
/// The frame floods, CONTINUATION floods, the HPACK bomb and streams past the limit are
/// refused by the event loop before any handler runs: inline dispatch shows them. The rapid
/// reset (streams that reach the handlers' queue) and the two stalls (timers of streams that
/// may be on app threads) run in both dispatches. Over h2c: TLS changes the transport, not how
/// frames are handled.
///
/// The stalls rely on the server's `--body-timeout 1s` and `--write-timeout 1s` (reacting
/// before them is a failure too, so the timers are what is seen). Seen failing with the
/// protections turned off by flags (`--body-timeout 60s`, `--write-timeout 60s`: nothing
/// within 5 s).
@Suite(.exclusive) final class HTTP2AttackTests: ServerSuite {
    struct Attack: CustomTestStringConvertible, Sendable {
        let name: String
        let dispatch: ServerMode.Dispatch
        var testDescription: String { "\(name), \(dispatch.rawValue)" }
    }

    static let loopAttacks = [
        "continuation-flood", "empty-continuation-flood", "hpack-bomb", "settings-flood", "ping-flood",
        "empty-data-flood", "stream-limit-flood",
    ]
    static let dispatchedAttacks = ["rapid-reset", "body-stall", "window-stall"]

    static let attacks: [Attack] =
        loopAttacks.map { Attack(name: $0, dispatch: .inline) }
        + dispatchedAttacks.flatMap { name in ServerMode.Dispatch.allCases.map { Attack(name: name, dispatch: $0) } }

    /// How much the server's peak resident set may grow through one attack (an HPACK bomb
    /// unbounded decodes 64 MB per request; a flood queued without bound, tens of MB).
    static let memoryBound = 48 * 1024

    /// Short stall timeouts; a keep-alive request cap far above the attacks' streams, so a
    /// rapid reset meets the reset cap, not the end of the connection's requests.
    static let flags = [
        "--body-timeout", "1s", "--write-timeout", "1s", "--max-keepalive-requests", "1000000",
    ]

    @Test(arguments: attacks)
    func attackIsRefusedAndTheServerServes(_ attack: Attack) throws {
        let server = try startTestApp(ServerMode(attack.dispatch, .tcp), Self.flags)
        // A first normal exchange: the server's memory at rest includes a served h2 connection.
        let warm = try curl(server, "/", ["--http2-prior-knowledge", "-s"])
        #expect(warm.standardOutput == "Hello, World!", "before the attack: \(warm)")
        let before = server.peakResidentKiB

        let run = try HTTP2Clients.run(
            "h2_attacks.py", against: server, ["--attack", attack.name, "--probe", "--timeout-seconds", "1"],
            timeout: 90, outputDirectory: workDirectory)
        HTTP2Clients.expectAllPassed(run, "\(attack.name) (\(attack.dispatch))")
        if let verdict = run.verdicts.first {
            #expect(
                verdict.integer("probe_failed") == 0 && (verdict.integer("probe_ok") ?? 0) > 0,
                "normal requests during \(attack.name): \(verdict.figures)")
        }

        #expect(server.isRunning, "the server died under \(attack.name): \(server.logTail)")
        let growth = server.peakResidentKiB - before
        #expect(growth < Self.memoryBound, "peak RSS grew by \(growth) KiB under \(attack.name)")
        let after = try curl(server, "/", ["--http2-prior-knowledge", "-s", "-w", " %{http_version}"])
        #expect(after.standardOutput == "Hello, World! 2", "curl after \(attack.name): \(after)")
    }
}
