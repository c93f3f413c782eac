import Foundation
import Testing

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

/// A blocking HTTP/1.1 client over a ByteStream (TCP, or whatever the mode's transport
/// opens), every read bounded: sends raw bytes, reads whole HTTP responses one after the
/// other (so pipelined responses come back in order), and tells when the server closes the
/// connection.
///
/// Every response read is checked for the framing rules that hold for any response
/// (never Content-Length together with Transfer-Encoding, none of either on 1xx/204...):
/// a breach is recorded as an issue of the running test.
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

    let stream: any ByteStream
    /// Default bound, in seconds, for one read of a response or one send.
    let timeout: Double
    /// Received and not yet consumed.
    private(set) var pending: [UInt8] = []
    /// The server closed its side (read returned 0) or reset the connection.
    private(set) var peerClosed = false
    private(set) var wasReset = false
    private var scratch = [UInt8](repeating: 0, count: 1 << 16)

    /// A client over `stream`; `timeout` bounds each read of a response.
    init(stream: any ByteStream, timeout: Double = 10) {
        self.stream = stream
        self.timeout = timeout
    }

    /// A connection to 127.0.0.1:`port`: plain TCP, or TLS with `tls` (the cluster and TLS
    /// tests, which pick the transport themselves).
    convenience init(port: UInt16, timeout: Double = 10, receiveBufferSize: Int? = nil, tls: TLSClientOptions? = nil)
        throws
    {
        let stream: any ByteStream
        do {
            stream =
                if let tls {
                    try TLSStream(port: port, timeout: timeout, receiveBufferSize: receiveBufferSize, options: tls)
                } else {
                    try TCPStream(port: port, timeout: timeout, receiveBufferSize: receiveBufferSize)
                }
        } catch {
            throw Failure.socket(error.description)  // a refused handshake is the client's failure
        }
        self.init(stream: stream, timeout: timeout)
    }

    /// The TLS session's details; nil over plain TCP.
    var tlsSession: (version: String, cipher: String, alpn: String, peerSubject: String, resumed: Bool)? {
        (stream as? TLSStream)?.details
    }

    func close() { stream.close() }

    /// The client's own port (the server's view of the remote port).
    var localPort: UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(stream.socket, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    /// Bytes sent but not yet acknowledged by the server's kernel (SIOCOUTQ): 0 once all
    /// of them sit in the server's receive queue (or were read).
    var unacknowledgedBytes: Int {
        var count: Int32 = 0
        return ioctl(stream.socket, UInt(0x5411), &count) == 0 ? Int(count) : -1
    }

    /// The socket's pending error (SO_ERROR, cleared by reading it): set once a reset arrived
    /// (EPIPE after the end of the stream was read, from when recv only returns 0).
    var pendingError: Int32 {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(stream.socket, SOL_SOCKET, SO_ERROR, &error, &length)
        return error
    }

    // MARK: Sending

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try send($0) }
    }

    /// Writes every byte (each blocking write bounded by the stream's timeout).
    func send(_ bytes: UnsafeRawBufferPointer) throws {
        do {
            try stream.send(bytes)
        } catch .sendTimedOut(let sent, let total) {
            throw Failure.timedOut("sending (\(sent) of \(total) bytes sent)", received: pending)
        } catch {
            throw Failure.socket(error.description)
        }
    }

    /// Half-closes: the server reads end of stream.
    func shutdownWrite() { stream.shutdownWrite() }

    // MARK: Receiving

    /// Reads more bytes into `pending`. Returns false at end of stream (or reset); throws
    /// when the deadline passes first.
    private func receiveMore(_ deadline: Deadline, _ what: @autoclosure () -> String) throws -> Bool {
        if peerClosed { return false }
        let input: StreamInput
        do {
            input = try scratch.withUnsafeMutableBytes { try stream.receive(into: $0, before: deadline) }
        } catch {
            throw Failure.socket("\(error)")
        }
        switch input {
        case .bytes(let count):
            pending.append(contentsOf: scratch[..<count])
            return true
        case .end:
            peerClosed = true
            return false
        case .reset:
            peerClosed = true
            wasReset = true
            return false
        case .timedOut:
            throw Failure.timedOut(what(), received: pending)
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
        to method: String = "GET", timeout: Double? = nil, sourceLocation: SourceLocation = #_sourceLocation
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
        return try parseHead(headBytes, method: method, sourceLocation: sourceLocation)
    }

    private func parseHead(
        _ bytes: [UInt8], method: String, sourceLocation: SourceLocation
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
        let framing = Self.framing(
            status: status, method: method, fields: fields, rawHead: raw, sourceLocation: sourceLocation)
        return HTTPResponseMessage(
            version: String(parts[0]), status: status, reason: parts.count > 2 ? String(parts[2]) : "",
            fields: fields, rawHead: raw, framing: framing)
    }

    /// RFC 9112 section 6.3, and the checks every response must pass.
    private static func framing(
        status: Int, method: String, fields: [(name: String, value: String)], rawHead: String,
        sourceLocation: SourceLocation
    ) -> HTTPResponseMessage.Framing {
        let lengths = fields.filter { $0.name.lowercased() == "content-length" }.map(\.value)
        let codings = fields.filter { $0.name.lowercased() == "transfer-encoding" }
            .flatMap { $0.value.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let where_ = "in response \(rawHead.debugDescription)"
        if !lengths.isEmpty && !codings.isEmpty {
            Issue.record(
                "a response has both Content-Length and Transfer-Encoding (RFC 9112 6.2) \(where_)",
                sourceLocation: sourceLocation)
        }
        if Set(lengths).count > 1 || lengths.contains(where: { $0.contains(",") }) {
            Issue.record("a response has conflicting Content-Length values \(where_)", sourceLocation: sourceLocation)
        }
        if (100..<200).contains(status) || status == 204 {
            if !lengths.isEmpty {
                Issue.record(
                    "Content-Length in a \(status) response (RFC 9110 8.6) \(where_)", sourceLocation: sourceLocation)
            }
            if !codings.isEmpty {
                Issue.record(
                    "Transfer-Encoding in a \(status) response (RFC 9112 6.1) \(where_)", sourceLocation: sourceLocation
                )
            }
        }
        if method == "HEAD" || (100..<200).contains(status) || status == 204 || status == 304 { return .noBody }
        if !codings.isEmpty { return codings.last == "chunked" ? .chunked : .closeDelimited }
        if let length = lengths.first {
            guard let count = Int(length), count >= 0 else {
                Issue.record(
                    "invalid Content-Length \(length.debugDescription) \(where_)", sourceLocation: sourceLocation)
                return .closeDelimited
            }
            return .contentLength(count)
        }
        return .closeDelimited
    }

    /// Reads one whole response: head and body, however it is framed. `method` is the
    /// request's (a response to HEAD has no body).
    func readResponse(
        to method: String = "GET", timeout: Double? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> HTTPResponseMessage {
        let deadline = Deadline(seconds: timeout ?? self.timeout)
        var response = try readHead(to: method, timeout: deadline.remaining, sourceLocation: sourceLocation)
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
        _ count: Int, to method: String = "GET", timeout: Double? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [HTTPResponseMessage] {
        let deadline = Deadline(seconds: timeout ?? self.timeout)
        return try (0..<count).map { _ in
            try readResponse(to: method, timeout: deadline.remaining, sourceLocation: sourceLocation)
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
        return stream.hasInput(within: seconds)
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
