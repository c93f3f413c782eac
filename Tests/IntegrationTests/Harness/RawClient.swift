import CTestTLS
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// One HTTP response as read off the wire.
struct HTTPResponseMessage {
    enum Framing: Equatable {
        /// 1xx, 204, 304 or a response to HEAD.
        case noBody
        case contentLength(Int)
        case chunked
        /// No length: the body ends when the server closes the connection.
        case closeDelimited
    }

    let version: String
    let status: Int
    let reason: String
    let fields: [(name: String, value: String)]
    /// Status line and fields exactly as received, through the empty line.
    let rawHead: String
    let framing: Framing
    var body: [UInt8] = []
    /// Body bytes as received (chunk framing included for a chunked body).
    var rawBody: [UInt8] = []
    var trailers: [(name: String, value: String)] = []

    var statusLine: String { rawHead.components(separatedBy: "\r\n").first ?? "" }
    var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The first value of a field, by case-insensitive name.
    func header(_ name: String) -> String? { headers(name).first }

    /// Every value of a field, in order.
    func headers(_ name: String) -> [String] {
        fields.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    func has(_ name: String) -> Bool { header(name) != nil }

    /// The comma-separated tokens of every `name` field, lowercased (Connection, Allow...).
    func tokens(_ name: String) -> Set<String> {
        Set(
            headers(name).flatMap { $0.split(separator: ",") }.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            })
    }

    var saysClose: Bool { tokens("Connection").contains("close") }
}

/// How a `RawClient` speaks TLS to an `ssl://` address.
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

/// A blocking TCP client with every read bounded: sends raw bytes, reads whole HTTP
/// responses one after the other (so pipelined responses come back in order), and tells
/// when the server closes the connection. Over TLS (`tls:`) it does the same with the
/// bytes inside the TLS records.
///
/// Every response read is checked for the framing rules that hold for any response
/// (never Content-Length together with Transfer-Encoding, none of either on 1xx/204...):
/// a breach fails the running test.
final class RawClient {
    enum Failure: Error, CustomStringConvertible {
        case timedOut(String, received: [UInt8])
        /// The server closed (or reset) the connection before the message was complete.
        case closedEarly(String, received: [UInt8])
        case malformed(String, received: [UInt8])
        case socket(String)

        var description: String {
            func show(_ bytes: [UInt8]) -> String {
                let text = String(decoding: bytes.prefix(600), as: UTF8.self)
                return "\(bytes.count) bytes received: \(text.debugDescription)"
            }
            switch self {
            case .timedOut(let what, let received): return "timed out \(what); \(show(received))"
            case .closedEarly(let what, let received): return "connection closed \(what); \(show(received))"
            case .malformed(let what, let received): return "malformed response: \(what); \(show(received))"
            case .socket(let what): return what
            }
        }
    }

    let fd: Int32
    /// Default bound, in seconds, for one read of a response or one send.
    let timeout: Double
    /// Received and not yet consumed.
    private(set) var pending: [UInt8] = []
    /// The server closed its side (read returned 0) or reset the connection.
    private(set) var peerClosed = false
    private(set) var wasReset = false
    private var scratch = [UInt8](repeating: 0, count: 1 << 16)
    private var closed = false
    /// The TLS session, when the client speaks TLS.
    private var session: OpaquePointer?

    /// Connects to 127.0.0.1:`port`. `receiveBufferSize` shrinks SO_RCVBUF (before the
    /// connect, so the window is small from the start): a client that stops reading then
    /// stalls the server quickly.
    init(port: UInt16, timeout: Double = 10, receiveBufferSize: Int? = nil, tls: TLSClientOptions? = nil) throws {
        self.timeout = timeout
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure.socket("socket: \(String(cString: strerror(errno)))") }
        var time = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if var size = receiveBufferSize.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw Failure.socket("connect to 127.0.0.1:\(port): \(message)")
        }
        if let tls {
            Self.ignoreBrokenPipes
            if !tls.preface.isEmpty {
                let sent = tls.preface.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard sent == tls.preface.count else {
                    Glibc.close(fd)
                    throw Failure.socket("sending the \(tls.preface.count)-byte preface: \(sent)")
                }
            }
            session = try Self.handshake(fd: fd, tls, timeout: timeout)
        }
    }

    /// OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a server that closes during the
    /// handshake (as it must, for some tests) would kill the test process with SIGPIPE.
    /// Servers and clients the tests start get the default action back (`ChildProcess`).
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// The TLS handshake on the connected socket; the socket is closed when it fails.
    private static func handshake(fd: Int32, _ tls: TLSClientOptions, timeout: Double) throws -> OpaquePointer {
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
            Glibc.close(fd)
            let message = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw Failure.socket("TLS handshake: \(message)")
        }
        return session
    }

    deinit { close() }

    func close() {
        if !closed {
            closed = true
            tt_free(session)
            session = nil
            Glibc.close(fd)
        }
    }

    /// The TLS session's version, cipher, ALPN protocol, the server certificate's subject,
    /// and whether it was resumed; nil over plain TCP.
    var tlsSession: (version: String, cipher: String, alpn: String, peerSubject: String, resumed: Bool)? {
        guard let session else { return nil }
        return (
            String(cString: tt_version(session)), String(cString: tt_cipher(session)),
            String(cString: tt_alpn(session)), String(cString: tt_peer_subject(session)), tt_resumed(session) != 0
        )
    }

    /// The client's own port (the server's view of the remote port).
    var localPort: UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    /// Bytes sent but not yet acknowledged by the server's kernel (SIOCOUTQ): 0 once all
    /// of them sit in the server's receive queue (or were read).
    var unacknowledgedBytes: Int {
        var count: Int32 = 0
        return ioctl(fd, UInt(0x5411), &count) == 0 ? Int(count) : -1
    }

    // MARK: Sending

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try send($0) }
    }

    /// Writes every byte (bounded by SO_SNDTIMEO per blocking write).
    func send(_ bytes: UnsafeRawBufferPointer) throws {
        if let session {
            let sent = tt_write(session, bytes.baseAddress, bytes.count, Int32(timeout * 1000))
            if sent == -1 { throw Failure.timedOut("sending \(bytes.count) bytes over TLS", received: pending) }
            if sent < 0 { throw Failure.socket("TLS write of \(bytes.count) bytes failed") }
            return
        }
        var offset = 0
        while offset < bytes.count {
            let sent = Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if sent > 0 {
                offset += sent
            } else if sent < 0 && errno == EINTR {
                continue
            } else if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                throw Failure.timedOut("sending (\(offset) of \(bytes.count) bytes sent)", received: pending)
            } else {
                throw Failure.socket(
                    "send after \(offset) of \(bytes.count) bytes: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Half-closes: the server reads end of stream (after a close_notify over TLS).
    func shutdownWrite() {
        if let session { tt_shutdown_write(session) } else { shutdown(fd, Int32(SHUT_WR)) }
    }

    // MARK: Receiving

    /// Reads more bytes into `pending`. Returns false at end of stream (or reset); throws
    /// when the deadline passes first.
    private func receiveMore(_ deadline: Deadline, _ what: @autoclosure () -> String) throws -> Bool {
        if peerClosed { return false }
        if let session {
            let count = scratch.withUnsafeMutableBytes {
                tt_read(session, $0.baseAddress, $0.count, deadline.remainingMilliseconds)
            }
            if count > 0 {
                pending.append(contentsOf: scratch[..<count])
                return true
            }
            if count == -1 { throw Failure.timedOut(what(), received: pending) }
            peerClosed = true
            wasReset = count < -1
            return false
        }
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = Glibc.poll(&poller, 1, deadline.remainingMilliseconds)
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 { throw Failure.timedOut(what(), received: pending) }
            let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                pending.append(contentsOf: scratch[..<count])
                return true
            }
            if count == 0 {
                peerClosed = true
                return false
            }
            switch errno {
            case EINTR, EAGAIN: continue
            case ECONNRESET, EPIPE:
                peerClosed = true
                wasReset = true
                return false
            default:
                throw Failure.socket("recv: \(String(cString: strerror(errno)))")
            }
        }
    }

    private func indexOfHeadEnd() -> Int? {
        guard pending.count >= 4 else { return nil }
        for index in 0...(pending.count - 4)
        where pending[index] == 13 && pending[index + 1] == 10 && pending[index + 2] == 13 && pending[index + 3] == 10 {
            return index + 4
        }
        return nil
    }

    /// Reads one response head (status line and fields); the body stays unread.
    func readHead(
        to method: String = "GET", timeout: Double? = nil, file: StaticString = #filePath, line: UInt = #line
    ) throws -> HTTPResponseMessage {
        let deadline = Deadline(seconds: timeout ?? self.timeout)
        var end = indexOfHeadEnd()
        while end == nil {
            guard try receiveMore(deadline, "waiting for a response head") else {
                throw Failure.closedEarly("before a whole response head", received: pending)
            }
            end = indexOfHeadEnd()
        }
        let headBytes = Array(pending[..<end!])
        pending.removeFirst(end!)
        return try parseHead(headBytes, method: method, file: file, line: line)
    }

    private func parseHead(
        _ bytes: [UInt8], method: String, file: StaticString, line: UInt
    ) throws -> HTTPResponseMessage {
        let raw = String(decoding: bytes, as: UTF8.self)
        var lines = raw.components(separatedBy: "\r\n")
        lines.removeLast(2)  // the empty line and what follows it
        guard let statusLine = lines.first else { throw Failure.malformed("empty head", received: bytes) }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), parts[1].count == 3, let status = Int(parts[1]) else {
            throw Failure.malformed("status line \(statusLine.debugDescription)", received: bytes)
        }
        var fields: [(name: String, value: String)] = []
        for fieldLine in lines.dropFirst() {
            guard let colon = fieldLine.firstIndex(of: ":") else {
                throw Failure.malformed("field line \(fieldLine.debugDescription)", received: bytes)
            }
            let name = String(fieldLine[..<colon])
            let value = fieldLine[fieldLine.index(after: colon)...].trimmingCharacters(
                in: CharacterSet(charactersIn: " \t"))
            fields.append((name, value))
        }
        let framing = Self.framing(status: status, method: method, fields: fields, rawHead: raw, file: file, line: line)
        return HTTPResponseMessage(
            version: String(parts[0]), status: status, reason: parts.count > 2 ? String(parts[2]) : "",
            fields: fields, rawHead: raw, framing: framing)
    }

    /// RFC 9112 section 6.3, and the checks every response must pass.
    private static func framing(
        status: Int, method: String, fields: [(name: String, value: String)], rawHead: String,
        file: StaticString, line: UInt
    ) -> HTTPResponseMessage.Framing {
        let lengths = fields.filter { $0.name.lowercased() == "content-length" }.map(\.value)
        let codings = fields.filter { $0.name.lowercased() == "transfer-encoding" }
            .flatMap { $0.value.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let where_ = "in response \(rawHead.debugDescription)"
        if !lengths.isEmpty && !codings.isEmpty {
            XCTFail(
                "a response has both Content-Length and Transfer-Encoding (RFC 9112 6.2) \(where_)", file: file,
                line: line)
        }
        if Set(lengths).count > 1 || lengths.contains(where: { $0.contains(",") }) {
            XCTFail("a response has conflicting Content-Length values \(where_)", file: file, line: line)
        }
        if (100..<200).contains(status) || status == 204 {
            if !lengths.isEmpty {
                XCTFail("Content-Length in a \(status) response (RFC 9110 8.6) \(where_)", file: file, line: line)
            }
            if !codings.isEmpty {
                XCTFail("Transfer-Encoding in a \(status) response (RFC 9112 6.1) \(where_)", file: file, line: line)
            }
        }
        if method == "HEAD" || (100..<200).contains(status) || status == 204 || status == 304 { return .noBody }
        if !codings.isEmpty { return codings.last == "chunked" ? .chunked : .closeDelimited }
        if let length = lengths.first {
            guard let count = Int(length), count >= 0 else {
                XCTFail("invalid Content-Length \(length.debugDescription) \(where_)", file: file, line: line)
                return .closeDelimited
            }
            return .contentLength(count)
        }
        return .closeDelimited
    }

    /// Reads one whole response: head and body, however it is framed. `method` is the
    /// request's (a response to HEAD has no body).
    func readResponse(
        to method: String = "GET", timeout: Double? = nil, file: StaticString = #filePath, line: UInt = #line
    ) throws -> HTTPResponseMessage {
        let deadline = Deadline(seconds: timeout ?? self.timeout)
        var response = try readHead(to: method, timeout: deadline.remaining, file: file, line: line)
        switch response.framing {
        case .noBody:
            break
        case .contentLength(let count):
            while pending.count < count {
                guard try receiveMore(deadline, "reading a \(count)-byte body") else {
                    throw Failure.closedEarly("inside a \(count)-byte body", received: pending)
                }
            }
            response.body = Array(pending[..<count])
            response.rawBody = response.body
            pending.removeFirst(count)
        case .chunked:
            try readChunked(into: &response, deadline)
        case .closeDelimited:
            while try receiveMore(deadline, "reading a close-delimited body") {}
            response.body = pending
            response.rawBody = pending
            pending = []
        }
        return response
    }

    /// Reads `count` responses in order (pipelining).
    func readResponses(
        _ count: Int, to method: String = "GET", timeout: Double? = nil, file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> [HTTPResponseMessage] {
        let deadline = Deadline(seconds: timeout ?? self.timeout)
        return try (0..<count).map { _ in
            try readResponse(to: method, timeout: deadline.remaining, file: file, line: line)
        }
    }

    private func readLine(_ deadline: Deadline, from start: Int) throws -> (line: String, next: Int) {
        while true {
            if pending.count >= start + 2 {
                for index in start..<(pending.count - 1) where pending[index] == 13 && pending[index + 1] == 10 {
                    return (String(decoding: pending[start..<index], as: UTF8.self), index + 2)
                }
            }
            guard try receiveMore(deadline, "reading a chunked body") else {
                throw Failure.closedEarly("inside a chunked body (no last chunk)", received: pending)
            }
        }
    }

    private func readChunked(into response: inout HTTPResponseMessage, _ deadline: Deadline) throws {
        var position = 0
        while true {
            let (sizeLine, afterSize) = try readLine(deadline, from: position)
            let sizeText = sizeLine.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces)
            guard let size = Int(sizeText, radix: 16), size >= 0 else {
                throw Failure.malformed("chunk size line \(sizeLine.debugDescription)", received: pending)
            }
            if size == 0 {
                var next = afterSize
                while true {
                    let (trailer, afterTrailer) = try readLine(deadline, from: next)
                    next = afterTrailer
                    if trailer.isEmpty { break }
                    if let colon = trailer.firstIndex(of: ":") {
                        response.trailers.append(
                            (
                                String(trailer[..<colon]),
                                trailer[trailer.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                            ))
                    }
                }
                response.rawBody = Array(pending[..<next])
                pending.removeFirst(next)
                return
            }
            while pending.count < afterSize + size + 2 {
                guard try receiveMore(deadline, "reading a chunk") else {
                    throw Failure.closedEarly("inside a chunk (no last chunk)", received: pending)
                }
            }
            guard pending[afterSize + size] == 13, pending[afterSize + size + 1] == 10 else {
                throw Failure.malformed("no CRLF after a chunk's data", received: pending)
            }
            response.body += pending[afterSize..<(afterSize + size)]
            position = afterSize + size + 2
        }
    }

    /// Whether something (bytes or the end of the stream) can be read within `seconds`,
    /// without reading it.
    func isReadable(within seconds: Double) -> Bool {
        if !pending.isEmpty || peerClosed { return true }
        if let session, tt_pending(session) != 0 { return true }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&poller, 1, Int32(seconds * 1000)) > 0
    }

    /// Reads until the server closes the connection or `timeout` seconds pass. Returns
    /// whether it closed and every byte that arrived (unconsumed bytes included).
    func waitForClose(timeout: Double) -> (closed: Bool, data: [UInt8]) {
        let deadline = Deadline(seconds: timeout)
        var closed = peerClosed
        do {
            while !closed {
                closed = !(try receiveMore(deadline, "waiting for the server to close"))
            }
        } catch {
            closed = false
        }
        let data = pending
        pending = []
        return (closed, data)
    }

    /// Reads and discards exactly `count` bytes (the body left unread after `readHead`).
    func discard(exactly count: Int, timeout: Double) throws {
        let deadline = Deadline(seconds: timeout)
        var left = count
        while true {
            let taken = min(left, pending.count)
            pending.removeFirst(taken)
            left -= taken
            if left == 0 { return }
            guard try receiveMore(deadline, "reading \(count) bytes (\(count - left) so far)") else {
                throw Failure.closedEarly("after \(count - left) of \(count) bytes", received: [])
            }
        }
    }

    /// Reads and discards until the server closes or `timeout` seconds pass. Returns the
    /// bytes discarded (unconsumed ones included) and whether the connection closed.
    func drain(timeout: Double) -> (bytes: Int, closed: Bool) {
        var total = pending.count
        pending = []
        let deadline = Deadline(seconds: timeout)
        do {
            while try receiveMore(deadline, "draining") {
                total += pending.count
                pending.removeAll(keepingCapacity: true)
            }
            return (total, true)
        } catch {
            return (total, false)
        }
    }
}
