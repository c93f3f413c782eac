internal import CRaptor
import HTTPTypes

#if canImport(Glibc)
    import Glibc
#endif

/// A request body.
///
/// By default the whole body has arrived before the handler runs: small bodies are in
/// memory; large ones (past `Configuration.bodyMemoryLimit`) were spooled to an unlinked
/// temporary file. `reader()` reads either kind the same way, `chunks()` as an
/// `AsyncSequence`.
///
/// With `Responder.async(bodies: .streamed)` the handler runs from the end of the
/// request's head and the body arrives while it runs:
/// - `chunks()` hands it over as the client sends it. The worker holds at most a small
///   buffer of it (64 KiB) and stops reading from the client while the handler does not
///   take it, so an upload of any length costs the same memory. A failure of the body
///   (`--max-body-size` passed by a chunked body, malformed chunked framing, the client
///   silent for `--body-timeout`) is thrown by the sequence as a `RequestBodyError`, which
///   is answered with its status if the handler rethrows it; a client that went away
///   throws `RaptorError.clientGone`. An `Expect: 100-continue` request gets its
///   `100 Continue` only when the handler first waits for the body, so a handler that
///   refuses the request before reading it spares the client the upload.
/// - `receive()` waits for all of it and stores it as the default mode does; from then on
///   `count`, `bytes`, `readAll()`, `reader()` and `string()` read it. Before, they see no
///   body (`count` 0, `bytes` nil), and `readAll()` and `string()` throw.
/// - The response begins when the handler returns: the body's reading ends there. What
///   the handler did not read of it is abandoned, and the response closes the connection.
/// - `request.trailers` are there once the body's end was read.
///
/// A view, like `Request`: it cannot outlive the handler (`~Escapable`).
public struct RequestBody: ~Escapable {
    let raw: UnsafePointer<rv_request>
    /// The request's connection, for a streamed body; nil for a `RequestBody` made from the
    /// request alone.
    let connection: OpaquePointer?

    @_lifetime(immortal)
    init(raw: UnsafePointer<rv_request>, connection: OpaquePointer? = nil) {
        self.raw = raw
        self.connection = connection
    }

    /// The streamed body, when this request's body is streamed (retained: release it).
    private func stream() -> OpaquePointer? {
        guard let connection else { return nil }
        return rv_conn_body_stream(connection)
    }

    /// A streamed body that `receive()` has not stored yet: the whole-body calls cannot
    /// read it.
    private var awaitsReceive: Bool {
        guard let stream = stream() else { return false }
        defer { rv_body_stream_release(stream) }
        return rv_body_stream_received(stream) == 0
    }

    /// The decoded length in bytes (chunked framing removed); 0 for a streamed body not
    /// `receive()`d.
    public var count: Int { Int(raw.pointee.body.length) }

    /// True when the body is in memory (`bytes` is then free to read); false for a
    /// streamed body not `receive()`d.
    public var isInMemory: Bool { raw.pointee.body.fd < 0 && !awaitsReceive }

    /// A copy of the bytes when the body is in memory; nil when it was spooled to a file.
    public var bytes: [UInt8]? {
        guard isInMemory else { return nil }
        guard let data = raw.pointee.body.data, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: count))
    }

    /// The whole body as UTF-8 text (invalid sequences replaced), reading the file if
    /// spooled.
    public func string() throws -> String {
        String(decoding: try readAll(), as: UTF8.self)
    }

    /// The whole body, reading the spool file if needed: this may take as much memory as
    /// the body is long, so prefer `reader()` for large uploads.
    public func readAll() throws -> [UInt8] {
        if awaitsReceive { throw RequestBodyError.notReceived }
        if let bytes { return bytes }
        var reader = reader()
        return try reader.read(upTo: count)
    }

    /// Waits for the whole of a streamed body and stores it as a body read before the
    /// handler runs is (in memory, then in a temporary file): the whole-body calls read it
    /// afterwards. What `chunks()` took before is not in it. Returns at once when the body
    /// is not streamed. Throws as `chunks()` does.
    public func receive() async throws {
        guard let connection, let stream = stream() else { return }
        let live = LiveBody(stream)
        guard rv_body_stream_received(stream) == 0 else { return }
        var chunks = RequestBodyChunks(source: .live(live), maximumLength: 64 << 10).makeAsyncIterator()
        while let chunk = try await chunks.next() {
            let stored = chunk.withUnsafeBufferPointer { rv_body_stream_store(stream, $0.baseAddress, $0.count) }
            if stored != 0 { throw RaptorError.system("storing the request body", errno) }
        }
        if rv_body_stream_publish(connection) != 0 { throw RaptorError.system("storing the request body", errno) }
    }

    /// A blocking reader over the body, from its first byte.
    @_lifetime(copy self)
    public func reader() -> RequestBodyReader {
        RequestBodyReader(raw: raw)
    }
}

/// Reads a request body sequentially, from memory or from its spool file. Bound to the
/// handler's call like the body it reads (`~Escapable`).
public struct RequestBodyReader: ~Escapable {
    let raw: UnsafePointer<rv_request>
    private var position = 0

    @_lifetime(immortal)
    init(raw: UnsafePointer<rv_request>) {
        self.raw = raw
    }

    /// Bytes not read yet.
    public var remaining: Int { Int(raw.pointee.body.length) - position }

    /// Reads up to `buffer.count` bytes; returns 0 at the end of the body.
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let wanted = min(buffer.count, remaining)
        guard wanted > 0, let base = buffer.baseAddress else { return 0 }
        let body = raw.pointee.body
        if body.fd < 0 {
            base.copyMemory(from: body.data! + position, byteCount: wanted)
            position += wanted
            return wanted
        }
        while true {
            let got = pread(body.fd, base, wanted, off_t(position))
            if got >= 0 {
                position += got
                return got
            }
            if errno != EINTR { throw RaptorError.system("reading the spooled request body", errno) }
        }
    }

    /// Reads up to `limit` bytes (fewer only at the end of the body).
    public mutating func read(upTo limit: Int) throws -> [UInt8] {
        let wanted = min(limit, remaining)
        var result = [UInt8](repeating: 0, count: wanted)
        var filled = 0
        try result.withUnsafeMutableBytes { all in
            while filled < wanted {
                let got = try read(into: UnsafeMutableRawBufferPointer(rebasing: all[filled...]))
                if got == 0 { break }
                filled += got
            }
        }
        result.removeLast(wanted - filled)
        return result
    }
}

extension RequestBody {
    /// The body as an `AsyncSequence` of chunks of at most `maximumLength` bytes, for an
    /// async handler that processes an upload piece by piece. The sequence owns what it
    /// reads, so it may be handed to a child task.
    ///
    /// A streamed body (`Responder.async(bodies: .streamed)`) comes as the client sends it,
    /// once: a second sequence goes on where the first stopped. Otherwise the whole body
    /// has arrived (a copy of an in-memory body; a spooled one is read from its file a chunk
    /// at a time, never held in memory whole).
    public func chunks(maximumLength: Int = 64 << 10) throws -> RequestBodyChunks {
        if let stream = stream(), rv_body_stream_received(stream) == 0 {
            return RequestBodyChunks(source: .live(LiveBody(stream)), maximumLength: maximumLength)
        } else if let stream = stream() {
            rv_body_stream_release(stream)
        }
        let length = UInt64(count)
        if isInMemory { return RequestBodyChunks(source: .memory(bytes ?? []), maximumLength: maximumLength) }
        let descriptor = dup(raw.pointee.body.fd)
        guard descriptor >= 0 else { throw RaptorError.system("duplicating the spooled request body", errno) }
        return RequestBodyChunks(
            source: .file(OwnedDescriptor(descriptor), length: length), maximumLength: maximumLength)
    }
}

/// A request body's chunks in order (`RequestBody.chunks(maximumLength:)`).
public struct RequestBodyChunks: AsyncSequence, Sendable {
    public typealias Element = [UInt8]

    enum Source: Sendable {
        case memory([UInt8])
        case file(OwnedDescriptor, length: UInt64)
        case live(LiveBody)
    }

    let source: Source
    let maximumLength: Int

    init(source: Source, maximumLength: Int) {
        self.source = source
        self.maximumLength = Swift.max(1, maximumLength)
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(source: source, maximumLength: maximumLength)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let source: Source
        let maximumLength: Int
        var position: UInt64 = 0

        /// The next chunk; nil at the end of the body.
        public mutating func next() async throws -> [UInt8]? {
            switch source {
            case .live(let body):
                let chunk = try await body.next(maximumLength: maximumLength)
                position += UInt64(chunk?.count ?? 0)
                return chunk
            case .memory(let bytes):
                let start = Int(position)
                guard start < bytes.count else { return nil }
                let end = Swift.min(bytes.count, start + maximumLength)
                position = UInt64(end)
                return Array(bytes[start..<end])
            case .file(let descriptor, let length):
                guard position < length else { return nil }
                let wanted = Int(Swift.min(UInt64(maximumLength), length - position))
                var chunk = [UInt8](repeating: 0, count: wanted)
                let got = try descriptor.withDescriptor { fd in
                    try chunk.withUnsafeMutableBytes { buffer in
                        while true {
                            let got = pread(fd, buffer.baseAddress, wanted, off_t(position))
                            if got >= 0 { return got }
                            if errno != EINTR {
                                throw RaptorError.system("reading the spooled request body", errno)
                            }
                        }
                    }
                }
                guard got > 0 else { return nil }
                chunk.removeLast(wanted - got)
                position += UInt64(got)
                return chunk
            }
        }
    }
}

/// A streamed request body's failure, thrown by its sequence: rethrown by the handler, it is
/// the response (Connection: close, since the rest of the body was not read).
public struct RequestBodyError: HTTPResponseError, CustomStringConvertible {
    /// 400 (malformed chunked framing), 408 (the client sent nothing for `--body-timeout`),
    /// 413 (past `--max-body-size`), 431 (a trailer section larger than the read buffer),
    /// 500 (the body could not be stored, or was abandoned).
    public let status: HTTPResponse.Status
    public let description: String

    /// `readAll()` or `string()` of a streamed body before `receive()`.
    static let notReceived = RequestBodyError(
        status: .internalServerError,
        description: "the request body is streamed: await receive() before reading it whole")
    static let abandoned = RequestBodyError(
        status: .internalServerError,
        description: "the request body was abandoned: the response began, or the request ended")

    init(status: HTTPResponse.Status, description: String) {
        self.status = status
        self.description = description
    }

    init(failure: UInt32) {
        switch failure {
        case 408: self.init(status: .requestTimeout, description: "the client sent no body byte for the body timeout")
        case 413: self.init(status: .contentTooLarge, description: "the request body is larger than allowed")
        case 431:
            self.init(
                status: .requestHeaderFieldsTooLarge, description: "the trailer section does not fit the read buffer")
        case 400: self.init(status: .badRequest, description: "the request body's framing is malformed")
        default:
            self.init(
                status: HTTPResponse.Status(code: Int(failure)), description: "the request body failed (\(failure))")
        }
    }
}

/// A streamed body's reading end (`rv_body_stream`), held by the sequences that read it.
final class LiveBody: @unchecked Sendable {
    // The C stream takes its own lock around everything it shares with the loop.
    let stream: OpaquePointer

    init(_ stream: OpaquePointer) {
        self.stream = stream
    }

    deinit { rv_body_stream_release(stream) }

    /// The next bytes, up to `maximumLength`, waiting for the loop when none are there; nil
    /// at the end of the body.
    func next(maximumLength: Int) async throws -> [UInt8]? {
        while true {
            var failure: UInt32 = 0
            let available = rv_body_stream_available(stream, &failure)
            if available > 0 {
                let wanted = Swift.min(available, maximumLength)
                return [UInt8](unsafeUninitializedCapacity: wanted) { buffer, count in
                    count = Swift.max(0, rv_body_stream_read(stream, buffer.baseAddress, wanted, &failure))
                }
            }
            switch Int32(available) {
            case RV_BODY_STREAM_END: return nil
            case RV_BODY_STREAM_FAILED: throw Self.error(failure)
            default: await BodyStreamWait.bytes(of: stream)
            }
        }
    }

    static func error(_ failure: UInt32) -> any Error {
        switch Int32(failure) {
        case RV_BODY_STREAM_GONE: RaptorError.clientGone
        case RV_BODY_STREAM_ABANDONED: RequestBodyError.abandoned
        default: RequestBodyError(failure: failure)
        }
    }
}

/// A Task waiting for the loop about a streamed body (bytes, or the loop's reading ended):
/// the continuation travels to C as an unmanaged pointer, and the loop resumes it
/// (`raptorBodyReady`).
final class BodyStreamWait: Sendable {
    let continuation: CheckedContinuation<Void, Never>

    init(_ continuation: CheckedContinuation<Void, Never>) {
        self.continuation = continuation
    }

    /// Until bytes, the end or a failure are there.
    static func bytes(of stream: OpaquePointer) async {
        let handle = ConnectionHandle(pointer: stream)
        await withCheckedContinuation { continuation in
            let waiter = Unmanaged.passRetained(BodyStreamWait(continuation))
            if rv_body_stream_wait(handle.pointer, raptorBodyReady, waiter.toOpaque()) != 0 {
                waiter.release()
                continuation.resume()
            }
        }
    }

    /// Until the loop reads the request's body no more: before the Task's first write (the
    /// transport has one owner at a time). At once when the body is not streamed or ended.
    static func stopReading(_ connection: OpaquePointer) async {
        let handle = ConnectionHandle(pointer: connection)
        await withCheckedContinuation { continuation in
            let waiter = Unmanaged.passRetained(BodyStreamWait(continuation))
            if rv_body_stream_stop(handle.pointer, raptorBodyReady, waiter.toOpaque()) == 0 {
                waiter.release()
                continuation.resume()
            }
        }
        // Resumed by the loop: through the stream's lock, what it wrote to the request before
        // it stopped (keep-alive, the error) is visible here, to ThreadSanitizer too.
        _ = rv_body_stream_stopped(handle.pointer)
    }
}

/// The loop's resumption of a `BodyStreamWait` (an `rv_body_ready_fn`, on the loop thread).
func raptorBodyReady(_ context: UnsafeMutableRawPointer?) {
    guard let context else { return }
    Unmanaged<BodyStreamWait>.fromOpaque(context).takeRetainedValue().continuation.resume()
}
