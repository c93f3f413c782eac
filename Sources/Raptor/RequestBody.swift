internal import CRaptor

#if canImport(Glibc)
    import Glibc
#endif

/// A request body, read in full before the handler runs.
///
/// Small bodies are in memory; large ones (past `Configuration.bodyMemoryLimit`) were
/// spooled to an unlinked temporary file. `reader()` reads either kind the same way.
/// A view, like `Request`: it cannot outlive the handler (`~Escapable`).
public struct RequestBody: ~Escapable {
    let raw: UnsafePointer<rv_request>

    @_lifetime(immortal)
    init(raw: UnsafePointer<rv_request>) {
        self.raw = raw
    }

    /// The decoded length in bytes (chunked framing removed).
    public var count: Int { Int(raw.pointee.body.length) }

    /// True when the body is in memory (`bytes` is then free to read).
    public var isInMemory: Bool { raw.pointee.body.fd < 0 }

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
        if let bytes { return bytes }
        var reader = reader()
        return try reader.read(upTo: count)
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
    /// async handler that processes an upload piece by piece: a body spooled to a file is
    /// read a chunk at a time, never held in memory whole. The sequence owns what it reads
    /// (a copy of an in-memory body, its own descriptor of a spool file), so it may be
    /// handed to a child task.
    ///
    /// The whole body has arrived before the handler runs (as for `reader()`); chunks
    /// handed to the handler while the upload is still arriving are not implemented yet.
    public func chunks(maximumLength: Int = 64 << 10) throws -> RequestBodyChunks {
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
