internal import CRaptor

/// The engine's response calls of one protocol: HTTP/1.1's (`rv_respond_*`, written by the
/// handler's thread) or an HTTP/2 stream's (`rv_h2_respond_*`, into the stream's sink).
/// Generic code over it is specialized per protocol, so HTTP/1.1 pays nothing for HTTP/2.
protocol ResponseCalls: SendableMetatype {
    static func start(_ connection: OpaquePointer, _ status: UInt32)
    static func field(
        _ connection: OpaquePointer, _ name: UnsafePointer<UInt8>?, _ nameLength: Int, _ value: UnsafePointer<UInt8>?,
        _ valueLength: Int
    ) -> Int32
    static func body(_ connection: OpaquePointer, _ bytes: UnsafePointer<UInt8>?, _ length: Int) -> Int32
    static func file(_ connection: OpaquePointer, _ descriptor: Int32, _ offset: UInt64, _ length: UInt64) -> Int32
    static func fileParts(
        _ connection: OpaquePointer, _ descriptor: Int32, _ parts: UnsafePointer<rv_file_part>?, _ count: UInt32,
        _ text: UnsafePointer<UInt8>?, _ textLength: Int
    ) -> Int32
    static func streamBegin(_ connection: OpaquePointer) -> Int32
    static func streamWrite(_ connection: OpaquePointer, _ bytes: UnsafePointer<UInt8>?, _ length: Int) -> Int32
    static func streamEnd(_ connection: OpaquePointer) -> Int32
    /// An async handler's Task is done with the request: back to the loop.
    static func taskFinished(_ connection: OpaquePointer)
    /// `ResponseSender.send` with these calls.
    static func send(_ response: Response, on connection: OpaquePointer) throws
}

enum HTTP1Calls: ResponseCalls {
    @inline(__always) static func start(_ c: OpaquePointer, _ status: UInt32) { rv_respond_start(c, status) }
    @inline(__always) static func field(
        _ c: OpaquePointer, _ n: UnsafePointer<UInt8>?, _ nl: Int, _ v: UnsafePointer<UInt8>?, _ vl: Int
    ) -> Int32 { rv_respond_field(c, n, nl, v, vl) }
    @inline(__always) static func body(_ c: OpaquePointer, _ b: UnsafePointer<UInt8>?, _ l: Int) -> Int32 {
        rv_respond_body(c, b, l)
    }
    @inline(__always) static func file(_ c: OpaquePointer, _ fd: Int32, _ o: UInt64, _ l: UInt64) -> Int32 {
        rv_respond_file(c, fd, o, l)
    }
    @inline(__always) static func fileParts(
        _ c: OpaquePointer, _ fd: Int32, _ p: UnsafePointer<rv_file_part>?, _ n: UInt32, _ t: UnsafePointer<UInt8>?,
        _ tl: Int
    ) -> Int32 { rv_respond_file_parts(c, fd, p, n, t, tl) }
    @inline(__always) static func streamBegin(_ c: OpaquePointer) -> Int32 { rv_respond_stream_begin(c) }
    @inline(__always) static func streamWrite(_ c: OpaquePointer, _ b: UnsafePointer<UInt8>?, _ l: Int) -> Int32 {
        rv_respond_stream_write(c, b, l)
    }
    @inline(__always) static func streamEnd(_ c: OpaquePointer) -> Int32 { rv_respond_stream_end(c) }
    @inline(__always) static func taskFinished(_ c: OpaquePointer) { rv_task_finished(c) }
    @inline(__always) static func send(_ response: Response, on c: OpaquePointer) throws {
        try ResponseSender.send(response, on: c, HTTP1Calls.self)
    }
}

enum HTTP2Calls: ResponseCalls {
    static func start(_ c: OpaquePointer, _ status: UInt32) { rv_h2_respond_start(c, status) }
    static func field(
        _ c: OpaquePointer, _ n: UnsafePointer<UInt8>?, _ nl: Int, _ v: UnsafePointer<UInt8>?, _ vl: Int
    ) -> Int32 { rv_h2_respond_field(c, n, nl, v, vl) }
    static func body(_ c: OpaquePointer, _ b: UnsafePointer<UInt8>?, _ l: Int) -> Int32 { rv_h2_respond_body(c, b, l) }
    static func file(_ c: OpaquePointer, _ fd: Int32, _ o: UInt64, _ l: UInt64) -> Int32 {
        rv_h2_respond_file(c, fd, o, l)
    }
    static func fileParts(
        _ c: OpaquePointer, _ fd: Int32, _ p: UnsafePointer<rv_file_part>?, _ n: UInt32, _ t: UnsafePointer<UInt8>?,
        _ tl: Int
    ) -> Int32 { rv_h2_respond_file_parts(c, fd, p, n, t, tl) }
    static func streamBegin(_ c: OpaquePointer) -> Int32 { rv_h2_respond_stream_begin(c) }
    static func streamWrite(_ c: OpaquePointer, _ b: UnsafePointer<UInt8>?, _ l: Int) -> Int32 {
        rv_h2_respond_stream_write(c, b, l)
    }
    static func streamEnd(_ c: OpaquePointer) -> Int32 { rv_h2_respond_stream_end(c) }
    static func taskFinished(_ c: OpaquePointer) { rv_h2_task_finished(c) }
    /// Not optimized, so `ResponseSender.send` is never specialized for HTTP/2: with both
    /// copies LLVM merged them into one taking the calls as arguments, which cost HTTP/1.1 3
    /// instructions per request (callgrind). The code around it (an async handler's Task) is
    /// specialized for HTTP/2.
    @_optimize(none) static func send(_ response: Response, on c: OpaquePointer) throws {
        try ResponseSender.send(response, on: c, HTTP2Calls.self)
    }
}

/// Hands a `Response` to the engine: status and fields into the head it encodes, then
/// the body in the one way that suits it. Nothing here allocates for a bytes or string
/// body: the engine writes straight from the Swift storage.
enum ResponseSender {
    /// Throws before anything is written when the response cannot be sent (an interim
    /// status, a file region sent before), so the caller can still answer 500.
    static func send<Calls: ResponseCalls>(_ response: Response, on connection: OpaquePointer, _: Calls.Type) throws {
        // HTTPResponse.Status admits 100...999; a 1xx cannot end an exchange (RFC 9110
        // section 15.2), and the engine would quietly turn it into a 500.
        guard response.status.code >= 200 else { throw RaptorError.interimStatus(response.status.code) }
        // One switch, each case starting the head itself: a look at the body before it (for
        // the file case) copied the body, 21 instructions per response.
        switch response.body {
        case .empty:
            startHead(of: response, on: connection, Calls.self)
            _ = Calls.body(connection, nil, 0)
        case .bytes(let bytes):
            startHead(of: response, on: connection, Calls.self)
            bytes.withUnsafeBufferPointer { _ = Calls.body(connection, $0.baseAddress, $0.count) }
        case .string(var text):
            startHead(of: response, on: connection, Calls.self)
            text.withUTF8 { _ = Calls.body(connection, $0.baseAddress, $0.count) }
        case .file(let region):
            guard let descriptor = region.descriptor.take() else { throw RaptorError.fileRegionAlreadySent }
            startHead(of: response, on: connection, Calls.self)
            // The engine closes the descriptor, whatever becomes of the response.
            _ = Calls.file(connection, descriptor, region.offset, region.length)
        case .fileParts(let body):
            guard let descriptor = body.descriptor.take() else { throw RaptorError.fileRegionAlreadySent }
            startHead(of: response, on: connection, Calls.self)
            // The texts in one block, as the engine takes them.
            let text = body.parts.flatMap(\.text) + body.tail
            let parts = body.parts.map {
                rv_file_part(offset: $0.offset, length: $0.length, text_length: $0.text.count)
            }
            text.withUnsafeBufferPointer { text in
                _ = Calls.fileParts(connection, descriptor, parts, UInt32(parts.count), text.baseAddress, text.count)
            }
        case .stream(let produce):
            startHead(of: response, on: connection, Calls.self)
            guard Calls.streamBegin(connection) == 0 else { throw RaptorError.clientGone }
            var writer = ResponseBodyWriter(connection: connection, http2: Calls.self == HTTP2Calls.self)
            try produce(&writer)
            guard Calls.streamEnd(connection) == 0 else { throw RaptorError.clientGone }
        case .asyncStream(let produce):
            // A sync handler's thread (an app thread, or the loop inline) waits: the writes
            // block it as a `.stream` body's do.
            startHead(of: response, on: connection, Calls.self)
            guard Calls.streamBegin(connection) == 0 else { throw RaptorError.clientGone }
            let handle = ConnectionHandle(pointer: connection)
            let http2 = Calls.self == HTTP2Calls.self
            try waitForTask {
                var writer = AsyncResponseBodyWriter(connection: handle.pointer, path: http2 ? .http2Blocking : .http1)
                try await produce(&writer)
            }
            guard Calls.streamEnd(connection) == 0 else { throw RaptorError.clientGone }
        }
    }

    /// `send` for an async handler's Task: an `.asyncStream` body waits for the client
    /// through the event loop, holding no thread; every other body is sent as from an app
    /// thread (what the socket does not take is left to the loop; a `.stream` body's
    /// writes block this thread of the cooperative pool, so async handlers should use
    /// `.asyncStream`). On an HTTP/2 stream everything goes into the stream's sink.
    static func sendFromTask<Calls: ResponseCalls>(
        _ response: Response, on connection: OpaquePointer, _: Calls.Type
    ) async throws {
        guard case .asyncStream(let produce) = response.body else {
            return try Calls.send(response, on: connection)
        }
        guard response.status.code >= 200 else { throw RaptorError.interimStatus(response.status.code) }
        startHead(of: response, on: connection, Calls.self)
        if Calls.self == HTTP2Calls.self {
            // The head goes to the loop at once; the writes wait for room in the stream's buffer.
            guard rv_h2_respond_stream_begin(connection) == 0 else { throw RaptorError.clientGone }
            var writer = AsyncResponseBodyWriter(connection: connection, path: .http2FromTask)
            try await produce(&writer)
            guard rv_h2_respond_stream_end(connection) == 0 else { throw RaptorError.clientGone }
            return
        }
        var writer = AsyncResponseBodyWriter(connection: connection, path: .http1)
        try await writer.settle(rv_respond_stream_begin_nowait(connection))
        try await produce(&writer)
        // What the socket does not take of the last chunk the loop sends.
        guard rv_respond_stream_end(connection) >= 0 else { throw RaptorError.clientGone }
    }

    /// The status and the handler's fields, into the head the engine encodes.
    @inline(__always)
    private static func startHead<Calls: ResponseCalls>(
        of response: Response, on connection: OpaquePointer, _: Calls.Type
    ) {
        Calls.start(connection, UInt32(response.status.code))
        for field in response.headers {
            var name = field.name.rawName
            var value = field.value
            name.withUTF8 { name in
                value.withUTF8 { value in
                    // Invalid names and values with CR/LF are dropped by the engine.
                    _ = Calls.field(connection, name.baseAddress, name.count, value.baseAddress, value.count)
                }
            }
        }
    }
}

/// Writes an `.asyncStream` response body. Each write goes out at once (as one chunk on
/// HTTP/1.1). From an async handler, a write the client is not ready to take waits for the
/// event loop to send it (holding no thread), up to the write timeout; from a sync handler
/// it blocks the thread, as `ResponseBodyWriter`'s do.
public struct AsyncResponseBodyWriter {
    let connection: OpaquePointer
    let path: Path

    /// How a write reaches the client.
    enum Path {
        /// HTTP/1.1: from a Task, what the socket does not take is left to the loop and the
        /// Task waits for it (`settle`); from a sync handler the write blocks.
        case http1
        /// An HTTP/2 stream of a sync handler: a write blocks while the stream's buffer is
        /// full, as `ResponseBodyWriter`'s do.
        case http2Blocking
        /// An HTTP/2 stream of an async handler's Task: a write takes what the stream's
        /// buffer has room for and waits for the loop to drain it (holding no thread).
        case http2FromTask
    }

    /// Throws `RaptorError.clientGone` when the client went away (or took nothing for the
    /// write timeout): stop producing.
    public mutating func write(_ bytes: [UInt8]) async throws {
        if path == .http2FromTask {
            let connection = connection
            return try await writeIntoStream(count: bytes.count) { offset in
                bytes.withUnsafeBufferPointer {
                    rv_h2_respond_stream_write_nowait(connection, $0.baseAddress! + offset, $0.count - offset)
                }
            }
        }
        let result = bytes.withUnsafeBufferPointer { write($0.baseAddress, $0.count) }
        try await settle(result)
    }

    public mutating func write(_ text: String) async throws {
        var text = text
        if path == .http2FromTask {
            let connection = connection
            return try await writeIntoStream(count: text.utf8.count) { offset in
                text.withUTF8 {
                    rv_h2_respond_stream_write_nowait(connection, $0.baseAddress! + offset, $0.count - offset)
                }
            }
        }
        let result = text.withUTF8 { write($0.baseAddress, $0.count) }
        try await settle(result)
    }

    private func write(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
        path == .http2Blocking
            ? HTTP2Calls.streamWrite(connection, bytes, count) : HTTP1Calls.streamWrite(connection, bytes, count)
    }

    /// `count` bytes into an HTTP/2 stream's buffer from a Task: `put(offset)` writes from
    /// `offset` and returns what the buffer took (-1: the stream is gone); for the rest the
    /// Task waits until the loop made room.
    private func writeIntoStream(count: Int, _ put: (Int) -> Int) async throws {
        var offset = 0
        while offset < count {
            let taken = put(offset)
            if taken < 0 { throw RaptorError.clientGone }
            offset += taken
            if offset < count, !(await WritableWait.wait(forRoomIn: connection)) {
                rv_respond_abort(connection)
                throw RaptorError.clientGone
            }
        }
    }

    /// After a write: 0 sent, -1 the client is gone, 1 the rest was left to the loop, which
    /// resumes this Task once it sent it.
    func settle(_ result: Int32) async throws {
        if result == 0 { return }
        if result < 0 { throw RaptorError.clientGone }
        let sent = await WritableWait.wait(for: connection)
        if !sent {
            rv_respond_abort(connection)
            throw RaptorError.clientGone
        }
    }
}

/// A Task waiting for the loop to send what its stream left: the continuation travels to C
/// as an unmanaged pointer, and the loop resumes it (`raptorWritable`).
final class WritableWait: Sendable {
    let continuation: CheckedContinuation<Bool, Never>

    init(_ continuation: CheckedContinuation<Bool, Never>) {
        self.continuation = continuation
    }

    /// True once everything left was sent; false when the client went away or the write
    /// timeout passed.
    static func wait(for connection: OpaquePointer) async -> Bool {
        await wait { rv_conn_wait_writable(connection, raptorWritable, $0) }
    }

    /// An HTTP/2 stream's Task: true once its buffer has room (the client's window and the
    /// connection let DATA leave), false when the stream closed (reset, the client gone, the
    /// write timeout).
    static func wait(forRoomIn stream: OpaquePointer) async -> Bool {
        await wait { rv_h2_wait_room(stream, raptorWritable, $0) }
    }

    /// `register` hands the waiter to the engine, which resumes it through `raptorWritable`.
    private static func wait(_ register: (UnsafeMutableRawPointer) -> Void) async -> Bool {
        await withCheckedContinuation { continuation in
            register(Unmanaged.passRetained(WritableWait(continuation)).toOpaque())
        }
    }
}

/// The loop's resumption of a `WritableWait` (an `rv_writable_fn`, on the loop thread).
func raptorWritable(_ context: UnsafeMutableRawPointer?, _ result: Int32) {
    guard let context else { return }
    Unmanaged<WritableWait>.fromOpaque(context).takeRetainedValue().continuation.resume(returning: result == 0)
}

/// Writes a streamed response body. Each write goes out at once (as one chunk on
/// HTTP/1.1, DATA on HTTP/2) and blocks while the client is slow (HTTP/2: while the
/// stream's buffer is full, the client's window closed), up to the write timeout.
public struct ResponseBodyWriter {
    let connection: OpaquePointer
    let http2: Bool

    /// Throws `RaptorError.clientGone` when the client went away: stop producing.
    public mutating func write(_ bytes: [UInt8]) throws {
        let result = bytes.withUnsafeBufferPointer { write($0.baseAddress, $0.count) }
        if result != 0 { throw RaptorError.clientGone }
    }

    public mutating func write(_ text: String) throws {
        var text = text
        let result = text.withUTF8 { write($0.baseAddress, $0.count) }
        if result != 0 { throw RaptorError.clientGone }
    }

    private func write(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
        http2
            ? HTTP2Calls.streamWrite(connection, bytes, count) : HTTP1Calls.streamWrite(connection, bytes, count)
    }
}
