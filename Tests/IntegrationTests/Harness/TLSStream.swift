import CTestTLS
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How a client speaks TLS to an `ssl://` address.
struct TLSClientOptions {
    /// Sent as SNI (and checked against the certificate when `caFile` is set).
    var serverName: String? = "localhost"
    /// Comma-separated ALPN protocols; nil offers none.
    var alpn: String? = nil
    /// Verifies the server's chain against it; nil: no verification.
    var caFile: String? = nil
    var certificateFile: String? = nil
    var keyFile: String? = nil
    /// 10, 11, 12, 13; 0: OpenSSL's default.
    var minVersion = 0
    var maxVersion = 0
    /// Sent in the clear before the handshake, as a load balancer sends a PROXY header.
    var preface: [UInt8] = []
}

/// A TLS connection over a TCPStream (the C test client in CShims/CTestTLS), every wait
/// bounded. Its `socket` is the TCP one, so ports and kernel queues keep their meaning.
final class TLSStream: ByteStream {
    private let tcp: TCPStream
    private var session: OpaquePointer?
    private let timeout: Double

    var socket: Int32 { tcp.socket }

    /// Connects to 127.0.0.1:`port`, sends `options.preface` in the clear, then handshakes.
    init(port: UInt16, timeout: Double, receiveBufferSize: Int? = nil, options: TLSClientOptions)
        throws(ByteStreamError)
    {
        Self.ignoreBrokenPipes
        tcp = try TCPStream(port: port, timeout: timeout, receiveBufferSize: receiveBufferSize)
        self.timeout = timeout
        do {
            try options.preface.withUnsafeBytes { try tcp.send($0) }
        } catch {
            throw (error as? ByteStreamError) ?? .failed("sending the preface: \(error)")
        }
        session = try Self.handshake(fd: tcp.socket, options, timeout: timeout)
    }

    /// OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a server that closes during the
    /// handshake (as it must, for some tests) would kill the test process with SIGPIPE.
    /// Servers and clients the tests start get the default action back (`ChildProcess`).
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// The TLS handshake on the connected socket.
    private static func handshake(fd: Int32, _ tls: TLSClientOptions, timeout: Double) throws(ByteStreamError)
        -> OpaquePointer
    {
        var error = [CChar](repeating: 0, count: 512)
        var strings: [UnsafeMutablePointer<CChar>?] = []
        defer { strings.forEach { free($0) } }
        func c(_ text: String?) -> UnsafePointer<CChar>? {
            guard let text else { return nil }
            strings.append(strdup(text))
            return UnsafePointer(strings.last!)
        }
        var options = tt_options(
            server_name: c(tls.serverName), alpn: c(tls.alpn), ca_file: c(tls.caFile),
            certificate_file: c(tls.certificateFile), key_file: c(tls.keyFile), min_version: Int32(tls.minVersion),
            max_version: Int32(tls.maxVersion))
        guard let session = tt_connect(fd, &options, Int32(timeout * 1000), &error, error.count) else {
            let message = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw .failed("TLS handshake: \(message)")
        }
        return session
    }

    deinit { close() }

    func close() {
        tt_free(session)
        session = nil
        tcp.close()
    }

    func send(_ bytes: UnsafeRawBufferPointer) throws(ByteStreamError) {
        let sent = tt_write(session, bytes.baseAddress, bytes.count, Int32(timeout * 1000))
        if sent == -1 { throw .sendTimedOut(sent: 0, of: bytes.count) }
        if sent < 0 { throw .failed("TLS write of \(bytes.count) bytes failed") }
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer, before deadline: Deadline) throws(ByteStreamError)
        -> StreamInput
    {
        let count = tt_read(session, buffer.baseAddress, buffer.count, deadline.remainingMilliseconds)
        if count > 0 { return .bytes(count) }
        switch count {
        case 0: return .end
        case -1: return .timedOut
        default: return .reset
        }
    }

    func hasInput(within seconds: Double) -> Bool {
        if let session, tt_pending(session) != 0 { return true }
        return tcp.hasInput(within: seconds)
    }

    func shutdownWrite() { tt_shutdown_write(session) }

    /// The session's version, cipher, ALPN protocol, the server certificate's subject, and
    /// whether it was resumed.
    var details: (version: String, cipher: String, alpn: String, peerSubject: String, resumed: Bool)? {
        guard let session else { return nil }
        return (
            String(cString: tt_version(session)), String(cString: tt_cipher(session)),
            String(cString: tt_alpn(session)), String(cString: tt_peer_subject(session)), tt_resumed(session) != 0
        )
    }
}
