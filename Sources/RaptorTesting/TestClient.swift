import Dispatch
public import HTTPTypes

#if canImport(Glibc)
    import Glibc
#endif

/// One connection to an application under test (`TestApplication.connect()`, over a
/// socket pair) or to a `TestServer` (over TCP): requests go out as raw bytes, responses
/// come back parsed. Requests on one client share its connection (keep-alive, pipelining).
/// Every read waits at most `timeout`. Closed by `close()` or when dropped. One task or
/// thread at a time uses a client.
///
/// From async code, call the `async` forms (`try await client.send(...)`): they wait on a
/// thread of the client's own, not on one of Swift's cooperative threads, which an async
/// responder's requests need (Swift Testing runs even synchronous tests on them: with an
/// async responder, write the tests `async`).
public final class TestClient: @unchecked Sendable {
    /// How long a read waits for the server before throwing `RaptorTestingError.timedOut`.
    public var timeout: Duration
    private let socket: ClientSocket
    private var reader: ResponseReader
    /// Methods of requests written and not yet answered (HEAD responses have no body).
    private var awaiting: [HTTPRequest.Method] = []

    init(descriptor: Int32, timeout: Duration) {
        let socket = ClientSocket(descriptor: descriptor)
        self.socket = socket
        self.timeout = timeout
        reader = ResponseReader(receive: socket.receive)
    }

    deinit { socket.close() }

    /// Writes the request and reads its response.
    public func send(_ request: TestRequest) throws -> TestResponse {
        try write(request)
        return try readResponse()
    }

    /// Writes the request without waiting for its response (to pipeline several).
    public func write(_ request: TestRequest) throws {
        try write(raw: request.bytes)
        awaiting.append(request.method)
    }

    /// Writes bytes as they are: a malformed request, a body sent in pieces.
    public func write(raw bytes: some Sequence<UInt8>) throws {
        try socket.send(Array(bytes))
    }

    /// Writes text as it is (UTF-8).
    public func write(raw text: String) throws {
        try write(raw: Array(text.utf8))
    }

    /// Reads the next response: to the oldest request written with `write(_:)` and not yet
    /// answered, or to `method` after raw bytes (it matters for HEAD only).
    public func readResponse(method: HTTPRequest.Method? = nil) throws -> TestResponse {
        let requestMethod = awaiting.isEmpty ? (method ?? .get) : awaiting.removeFirst()
        socket.deadline = .now + timeout
        return try reader.readResponse(method: method ?? requestMethod)
    }

    /// Waits for the server to close the connection: true when it did within `timeout`
    /// with nothing more sent (then this end closes too, so the server is not left lingering
    /// for it), false when it stays open (bytes it sends meanwhile are kept).
    public func waitForClose(timeout: Duration? = nil) throws -> Bool {
        socket.deadline = .now + (timeout ?? self.timeout)
        let closed: Bool
        do {
            closed = try reader.atEnd()
        } catch RaptorTestingError.timedOut {
            return false
        }
        if closed { socket.close() }
        return closed
    }

    /// Closes the connection (the server sees the client go).
    public func close() { socket.close() }

    /// Writes the request and reads its response, waiting off the cooperative threads.
    public func send(_ request: TestRequest) async throws -> TestResponse {
        try await waiting { try self.send(request) }
    }

    /// Reads the next response (see the synchronous form), waiting off the cooperative
    /// threads.
    public func readResponse(method: HTTPRequest.Method? = nil) async throws -> TestResponse {
        try await waiting { try self.readResponse(method: method) }
    }

    /// Waits for the server to close the connection (see the synchronous form), off the
    /// cooperative threads.
    public func waitForClose(timeout: Duration? = nil) async throws -> Bool {
        try await waiting { try self.waitForClose(timeout: timeout) }
    }

    /// The client's own thread (a serial queue) for the async forms' blocking waits.
    private let waits = DispatchQueue(label: "raptor-testing.client")

    private func waiting<Value: Sendable>(_ operation: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            waits.async { continuation.resume(with: Result { try operation() }) }
        }
    }
}

/// The client's end of the connection: blocking writes, reads bounded by a deadline.
final class ClientSocket {
    private(set) var descriptor: Int32
    var deadline = ContinuousClock.now

    init(descriptor: Int32) { self.descriptor = descriptor }

    func close() {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
        descriptor = -1
    }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw RaptorTestingError.system(call: "send", errno: errno)
            }
            sent += count
        }
    }

    /// Appends what the server sent next; false at the end of the stream (or a reset).
    func receive(_ buffer: inout [UInt8]) throws -> Bool {
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { throw RaptorTestingError.timedOut(waitingFor: "the server's response") }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(
                clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            let ready = poll(&poller, 1, milliseconds)
            if ready < 0 && errno != EINTR { throw RaptorTestingError.system(call: "poll", errno: errno) }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET { return false }
                throw RaptorTestingError.system(call: "recv", errno: errno)
            }
            if count == 0 { return false }
            buffer += chunk[..<count]
            return true
        }
    }
}
