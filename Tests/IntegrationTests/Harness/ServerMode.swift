import Foundation
import Testing

/// How the server under test runs: its dispatch (inline on the event loop, or the pool of
/// app threads in the default cluster) and its transport. The behaviour suites take one as
/// the argument of a parameterized test, `@Test(arguments: ServerMode.all)`, so every test
/// runs in every mode and a failure names its mode.
struct ServerMode: Hashable, Codable, Sendable, CustomStringConvertible, CustomTestStringConvertible {
    enum Dispatch: String, Hashable, Codable, Sendable, CaseIterable {
        /// `--threads 0 --workers 0`: one process, handlers run on the event loop.
        case inline
        /// `--threads 5` with the default cluster: a master, workers, app threads.
        case pool
    }

    /// What a connection to the server runs over. Adding one is local: its case here, how a
    /// server is started for it (`serverFlags`, `bindScheme`) and how a client connects
    /// (`urlScheme`, `curlOptions`, `openStream`).
    enum Transport: String, Hashable, Codable, Sendable, CaseIterable {
        case tcp
        /// `ssl://`, with a certificate for localhost made at test time (TestCertificates).
        case tls
    }

    let dispatch: Dispatch
    let transport: Transport

    init(_ dispatch: Dispatch, _ transport: Transport) {
        self.dispatch = dispatch
        self.transport = transport
    }

    /// Every dispatch over every transport. With RAPTOR_TEST_MODES=pairs (CI's run under
    /// AddressSanitizer, `make sanitize-address ASAN_SCOPE=ci`, to stay within CI's time),
    /// each dispatch over one transport: inline over tls and pool over tcp, so both
    /// dispatches and both transports still run.
    static var all: [ServerMode] {
        guard ProcessInfo.processInfo.environment["RAPTOR_TEST_MODES"] == "pairs" else {
            return Dispatch.allCases.flatMap(modes)
        }
        return [ServerMode(.inline, .tls), ServerMode(.pool, .tcp)]
    }

    /// `dispatch` over every transport (a test that only one dispatch can show).
    static func modes(_ dispatch: Dispatch) -> [ServerMode] {
        Transport.allCases.map { ServerMode(dispatch, $0) }
    }

    var description: String { "\(dispatch.rawValue) over \(transport.rawValue)" }
    var testDescription: String { description }
}

extension ServerMode.Dispatch {
    /// `--threads` for this dispatch.
    var threads: Int {
        switch self {
        case .inline: 0
        case .pool: 5
        }
    }

    /// The flags that select this dispatch, except those `flags` already set.
    func serverFlags(besides flags: [String]) -> [String] {
        var added: [String] = []
        if !flags.contains("--threads") && !flags.contains("-t") { added += ["--threads", String(threads)] }
        // Inline runs one process (no master); `--single` and explicit workers say otherwise.
        if self == .inline && !flags.contains("--workers") && !flags.contains("-w") && !flags.contains("--single") {
            added += ["--workers", "0"]
        }
        return added
    }
}

extension ServerMode.Transport {
    /// The scheme of the server's `--bind` (and of its `listening` log line).
    var bindScheme: String {
        switch self {
        case .tcp: "tcp"
        case .tls: "ssl"
        }
    }

    /// The scheme of a client's URL.
    var urlScheme: String {
        switch self {
        case .tcp: "http"
        case .tls: "https"
        }
    }

    /// The flags that make a server listen on 127.0.0.1 (an ephemeral port) over this
    /// transport. `directory` is the test's scratch space (for files a transport needs).
    func serverFlags(directory: URL) throws -> [String] {
        switch self {
        case .tcp: ["--bind", "tcp://127.0.0.1:0"]
        case .tls:
            try {
                let pair = try TestCertificates.shared.localhost
                return ["--bind", "ssl://127.0.0.1:0", "--tls-cert", pair.certificate, "--tls-key", pair.key]
            }()
        }
    }

    /// What curl needs beyond the URL to talk to such a server.
    var curlOptions: [String] {
        switch self {
        case .tcp: []
        case .tls: caFile.map { ["--cacert", $0] } ?? []
        }
    }

    /// The CA a client verifies the server's certificate with (nil: nothing to verify).
    /// Made before any server of the transport starts (`serverFlags`).
    var caFile: String? {
        switch self {
        case .tcp: nil
        case .tls: try? TestCertificates.shared.caFile
        }
    }

    /// A new client connection to 127.0.0.1:`port`; the caller closes it.
    func openClient(port: UInt16, timeout: Double = 10, receiveBufferSize: Int? = nil) throws -> RawClient {
        RawClient(
            stream: try openStream(port: port, timeout: timeout, receiveBufferSize: receiveBufferSize),
            timeout: timeout)
    }

    /// A new connection to 127.0.0.1:`port`. `receiveBufferSize` shrinks the socket's
    /// SO_RCVBUF before it connects.
    func openStream(port: UInt16, timeout: Double, receiveBufferSize: Int?) throws -> any ByteStream {
        switch self {
        case .tcp: try TCPStream(port: port, timeout: timeout, receiveBufferSize: receiveBufferSize)
        case .tls:
            try TLSStream(
                port: port, timeout: timeout, receiveBufferSize: receiveBufferSize,
                options: TLSClientOptions(alpn: "http/1.1", caFile: try TestCertificates.shared.caFile))
        }
    }
}
