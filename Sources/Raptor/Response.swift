import HTTPTypes
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What a handler returns: a status, header fields and a body.
///
/// The server owns the framing: it writes `Date`, `Content-Length` or
/// `Transfer-Encoding` and `Connection` itself, and ignores those fields when a handler
/// sets them (a `Connection: close` set by the handler is honoured).
public struct Response: Sendable {
    public var status: HTTPResponse.Status
    public var headers: ResponseFields
    public var body: Body

    public init(status: HTTPResponse.Status = .ok, headers: ResponseFields = [:], body: Body = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The body of a response.
    public enum Body: Sendable, ExpressibleByStringLiteral {
        /// No body (`Content-Length: 0`, or nothing at all for 1xx, 204 and 304).
        case empty
        case bytes([UInt8])
        /// UTF-8 text.
        case string(String)
        /// A region of a file, sent with sendfile(2).
        case file(FileRegion)
        /// Regions of one file, each after a piece of text (a `multipart/byteranges`
        /// body), the regions sent with sendfile(2).
        case fileParts(FileParts)
        /// A body of unknown length, written piece by piece: chunked on HTTP/1.1,
        /// delimited by closing the connection on HTTP/1.0. Writes block while the
        /// client is slow (bounded by the write timeout). The closure runs after the
        /// handler returned: it cannot capture the `Request`, so read what it needs first.
        case stream(@Sendable (inout ResponseBodyWriter) throws -> Void)
        /// A body of unknown length written by an async closure
        /// (`try await writer.write(...)`), framed as `.stream`. From an async handler a
        /// write the client is not ready for waits for the event loop to send it, holding
        /// no thread (bounded by the write timeout). From a sync handler the closure runs as
        /// a Task that the handler's thread waits for, its writes blocking as `.stream`'s.
        case asyncStream(@Sendable (inout AsyncResponseBodyWriter) async throws -> Void)

        public init(stringLiteral value: String) {
            self = .string(value)
        }
    }
}

/// A response's header fields, in order; names are swift-http-types' `HTTPField.Name`.
public struct ResponseFields: Sendable, ExpressibleByDictionaryLiteral, Sequence {
    public typealias Element = (name: HTTPField.Name, value: String)
    /// Kept as the literal's own array: a second, relabelled copy cost an allocation per
    /// response.
    var fields: [(HTTPField.Name, String)]

    public init(dictionaryLiteral elements: (HTTPField.Name, String)...) {
        fields = elements
    }

    public init(_ elements: [(HTTPField.Name, String)]) {
        fields = elements
    }

    /// The first value of a field; setting replaces every value of it (nil removes).
    public subscript(name: HTTPField.Name) -> String? {
        get { fields.first { $0.0 == name }?.1 }
        set {
            fields.removeAll { $0.0 == name }
            if let newValue { fields.append((name, newValue)) }
        }
    }

    /// Adds a field, keeping any that has the same name (for repeated fields).
    public mutating func append(_ name: HTTPField.Name, _ value: String) {
        fields.append((name, value))
    }

    public var count: Int { fields.count }

    public struct Iterator: IteratorProtocol {
        var base: IndexingIterator<[(HTTPField.Name, String)]>
        public mutating func next() -> Element? { base.next().map { (name: $0.0, value: $0.1) } }
    }

    public func makeIterator() -> Iterator { Iterator(base: fields.makeIterator()) }
}

/// A region of an open file, sent with sendfile(2).
///
/// The region owns its descriptor: the server closes it once the region is sent, and a
/// region dropped unsent (a response a handler built and did not return, a handler that
/// threw) closes it when its last copy goes. Copies share the one descriptor, which is
/// closed exactly once. A region is sent once: its descriptor goes with the response, so
/// a `Response` kept and returned again (a cached one) is refused with
/// `RaptorError.fileRegionAlreadySent`; open the file (or `dup` it) per response.
public struct FileRegion: Sendable {
    let descriptor: OwnedDescriptor
    public let offset: UInt64
    public let length: UInt64

    /// Takes ownership of `fileDescriptor`: do not close it or use it after this.
    public init(fileDescriptor: Int32, offset: UInt64, length: UInt64) {
        self.descriptor = OwnedDescriptor(fileDescriptor)
        self.offset = offset
        self.length = length
    }

    /// Opens a regular file for reading and takes all of it.
    public init(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw RaptorError.system("open \(path)", errno) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            close(descriptor)
            throw RaptorError.system("stat \(path)", code)
        }
        self.init(fileDescriptor: descriptor, offset: 0, length: UInt64(info.st_size))
    }
}

/// Regions of one open file, each after a piece of text, then a tail: the body of a
/// `multipart/byteranges` response (each part's header, then its bytes). It owns its
/// descriptor as `FileRegion` does: closed once everything is sent, or when its last copy
/// goes unsent; sent once.
public struct FileParts: Sendable {
    public struct Part: Sendable {
        /// Sent before the region.
        public var text: [UInt8]
        public var offset: UInt64
        public var length: UInt64

        public init(text: [UInt8], offset: UInt64, length: UInt64) {
            self.text = text
            self.offset = offset
            self.length = length
        }
    }

    let descriptor: OwnedDescriptor
    /// At least one.
    public let parts: [Part]
    /// Sent after the last region.
    public let tail: [UInt8]

    /// Takes ownership of `fileDescriptor`: do not close it or use it after this.
    public init(fileDescriptor: Int32, parts: [Part], tail: [UInt8]) {
        self.descriptor = OwnedDescriptor(fileDescriptor)
        self.parts = parts
        self.tail = tail
    }

    /// Bytes of the whole body.
    public var length: UInt64 {
        parts.reduce(UInt64(tail.count)) { $0 + UInt64($1.text.count) + $1.length }
    }
}
