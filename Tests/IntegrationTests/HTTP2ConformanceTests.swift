import Foundation
import Testing

/// HTTP/2 conformance from RFC 9113's and RFC 7541's MUSTs, sent as raw frames by
/// `Tests/Clients/h2_conformance.py` (each case on its own connection, its verdict from the
/// RFC's text: which error, stream or connection, or which response). A run covers one
/// group of cases against one server, so a group costs one server start:
///
/// - preface: the connection preface, SETTINGS (values, ACK, sizes), PING, unknown frame
///   types, flags and the reserved bit (3.4, 4.1, 5.5, 6.5, 6.7, 6.8)
/// - streams: stream states and identifiers (idle, half-closed, closed; even and decreasing
///   ids; stream 0), CONTINUATION sequences, SETTINGS_MAX_CONCURRENT_STREAMS (5.1, 5.3.1,
///   6.1-6.4, 6.10)
/// - frames: frame sizes over SETTINGS_MAX_FRAME_SIZE, fixed-length frames of the wrong
///   length, padding (4.2, 6.1-6.4, 6.9)
/// - fields: section 8.2 and 8.3 (uppercase names, connection-specific fields, TE, NUL/CR/LF
///   and edge whitespace, pseudo-header fields missing, duplicated, unknown, late, in
///   trailers; empty :path; content-length against DATA; cookie crumbs)
/// - flow: WINDOW_UPDATE of 0, windows over 2^31-1, SETTINGS_INITIAL_WINDOW_SIZE changes,
///   a large response into a tiny window completing only as WINDOW_UPDATEs come (5.2, 6.9)
/// - hpack: RFC 7541 decoding errors (index 0 and out of range, table size updates, Huffman
///   EOS and padding, integer overflow) and the dynamic table across requests
/// - semantics: concurrent streams, bodies with and without content-length, trailers, HEAD,
///   204/304, 413 and 431 on a stream while the connection keeps serving, :authority
///
/// Frame handling happens on the event loop before any handler runs, so inline dispatch
/// over h2c shows it; the semantics group (where streams run on app threads at once) also
/// runs in the pool, and the preface and semantics groups over TLS (h2 chosen by ALPN).
@Suite(.concurrent) final class HTTP2ConformanceTests: ServerSuite {
    struct GroupRun: CustomTestStringConvertible, Sendable {
        let group: String
        let mode: ServerMode
        var testDescription: String { "\(group), \(mode)" }
    }

    static let groups = ["preface", "streams", "frames", "fields", "flow", "hpack", "semantics"]

    static let runs: [GroupRun] =
        groups.map { GroupRun(group: $0, mode: ServerMode(.inline, .tcp)) } + [
            GroupRun(group: "semantics", mode: ServerMode(.pool, .tcp)),
            GroupRun(group: "preface", mode: ServerMode(.inline, .tls)),
            GroupRun(group: "semantics", mode: ServerMode(.inline, .tls)),
        ]

    /// The limits the semantics group's 413 and 431 cases rely on.
    static let flags = ["--max-body-size", "64KiB", "--max-header-size", "16KiB"]

    @Test(arguments: runs)
    func group(_ run: GroupRun) throws {
        let server = try startTestApp(run.mode, Self.flags)
        // Each case waits at most 3 s for the server's reaction (and 3 s more for a close
        // after a GOAWAY): the bound is for a server that fails every case.
        let result = try HTTP2Clients.run(
            "h2_conformance.py", against: server, ["--group", run.group, "--timeout", "3"], timeout: 300,
            outputDirectory: workDirectory)
        HTTP2Clients.expectAllPassed(result, "\(run.group) (\(run.mode))")
        #expect(server.isRunning, "the server died: \(server.logTail)")
    }
}

/// RFC 9113 6.8 on a graceful stop: SIGTERM while three slow requests are in flight on one
/// connection; the server sends GOAWAY (NO_ERROR) whose last-stream-id covers the streams
/// it then answers in full, answers none above it, closes the connection, and exits 0.
/// With app threads the signal goes once the server has read the requests (a PING sent
/// after them is ACKed), so the last-stream-id must cover all three; inline, the loop runs
/// the handlers and ACKs only after them, so the signal goes right after the requests are
/// written and the RFC's rule is what is checked: covered streams answered, others not.
@Suite(.exclusive) final class HTTP2GracefulStopTests: ServerSuite {
    @Test(arguments: ServerMode.Dispatch.allCases)
    func goawayCoversTheStreamsInFlight(_ dispatch: ServerMode.Dispatch) throws {
        let server = try startTestApp(ServerMode(dispatch, .tcp), ["--shutdown-timeout", "10s"])
        var arguments = ["--group", "goaway", "--pid", "\(server.pid)", "--slow-ms", "800"]
        if dispatch == .pool { arguments.append("--wait-received") }
        let result = try HTTP2Clients.run(
            "h2_conformance.py", against: server, arguments, timeout: 60, outputDirectory: workDirectory)
        HTTP2Clients.expectAllPassed(result, "graceful stop (\(dispatch))")
        server.terminate()  // already signalled by the client: this marks the stop as asked for
        #expect(server.waitForExit(timeout: 15) == .exited(0), "\(server.logTail)")
    }
}
