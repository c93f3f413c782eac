internal import CRaptor
import HTTPTypes

/// A request as a handler sees it.
///
/// `Request` is a view over the engine's read buffer: nothing is copied until a property
/// is read, and the view is valid only while the handler runs (the buffer holds the next
/// request once the response is finished). Keep what you need by reading it (the
/// properties return owned values), never the `Request` itself: it is `~Escapable`, so
/// the compiler refuses code that would keep it (or its `headers`, `trailers`, `body`)
/// past the handler's return: storing it, capturing it in an escaping closure (a
/// `.stream` body, a `Task`), returning it.
public struct Request: ~Escapable {
    let connection: OpaquePointer
    let raw: UnsafePointer<rv_request>
    let buffer: UnsafePointer<UInt8>

    /// Made only by the dispatch, around one handler call; the handler's parameter is
    /// what bounds its lifetime for the application.
    @_lifetime(immortal)
    init(connection: OpaquePointer) {
        self.connection = connection
        self.raw = rv_conn_request(connection)
        self.buffer = rv_conn_buffer(connection)
    }

    /// The request method, in swift-http-types vocabulary.
    public var method: HTTPRequest.Method {
        switch raw.pointee.method {
        case RV_METHOD_GET: return .get
        case RV_METHOD_HEAD: return .head
        case RV_METHOD_POST: return .post
        case RV_METHOD_PUT: return .put
        case RV_METHOD_DELETE: return .delete
        case RV_METHOD_OPTIONS: return .options
        case RV_METHOD_PATCH: return .patch
        case RV_METHOD_CONNECT: return .connect
        case RV_METHOD_TRACE: return .trace
        default:
            // The parser only hands over methods that are valid tokens.
            return HTTPRequest.Method(String(cString: raw.pointee.method_name))!
        }
    }

    /// The request-target exactly as the client sent it (`/a%20b?x=1`).
    public var target: String { string(raw.pointee.target) }

    /// The path part of the target, before any `?`, still percent-encoded. For an
    /// absolute-form target (`http://host/a?b`, RFC 9112 section 3.2.2) it is the path
    /// after the authority (`/a`); `*` for `OPTIONS *`.
    public var path: String {
        let target = bytes(raw.pointee.target)
        let start = Self.pathStart(target)
        let end = target[start...].firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex
        if start == end && start != 0 { return "/" }  // "http://host" or "http://host?q": empty path
        return String(decoding: UnsafeBufferPointer(rebasing: target[start..<end]), as: UTF8.self)
    }

    /// The query part of the target, after the first `?`, still percent-encoded; nil when
    /// the target has no `?`.
    public var query: String? {
        let target = bytes(raw.pointee.target)
        let start = Self.pathStart(target)
        guard let mark = target[start...].firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: target[(mark + 1)...]), as: UTF8.self)
    }

    /// Where the path begins: 0 for origin-form; after `scheme://authority` for
    /// absolute-form.
    static func pathStart(_ target: UnsafeBufferPointer<UInt8>) -> Int {
        guard let authority = authorityStart(target) else { return 0 }
        return target[authority...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? target.count
    }

    /// Where the authority of an absolute-form target begins (after `scheme://`); nil for
    /// the other forms (origin, asterisk, and CONNECT's authority-form).
    static func authorityStart(_ target: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let first = target.first, first != UInt8(ascii: "/"), first != UInt8(ascii: "*") else { return nil }
        var index = 0
        while index + 2 < target.count {
            if target[index] == UInt8(ascii: ":") && target[index + 1] == UInt8(ascii: "/")
                && target[index + 2] == UInt8(ascii: "/")
            {
                return index + 3
            }
            index += 1
        }
        return nil
    }

    /// The authority the request is for: from an absolute-form target when there is one
    /// (RFC 9112 section 3.2.2: the Host field is then ignored), else the Host field.
    public var authority: String? {
        let target = bytes(raw.pointee.target)
        let start = Self.pathStart(target)
        if start > 0, let schemeEnd = Self.authorityStart(target) {
            return String(decoding: UnsafeBufferPointer(rebasing: target[schemeEnd..<start]), as: UTF8.self)
        }
        return headers[Self.hostField]
    }

    /// The path, percent-decoded; nil when its encoding is invalid or decodes to bytes that
    /// are not UTF-8.
    public var decodedPath: String? { PercentDecoding.decode(path) }

    /// The query's `name=value` pairs, percent-decoded (`+` read as a space), in order.
    public var queryItems: [(name: String, value: String)] {
        guard let query else { return [] }
        return PercentDecoding.formItems(query)
    }

    /// The HTTP version of the request line.
    public var version: HTTPVersion {
        HTTPVersion(major: Int(raw.pointee.version_major), minor: Int(raw.pointee.version_minor))
    }

    /// The header fields, with case-insensitive lookup.
    public var headers: RequestFields {
        @_lifetime(copy self)
        get { RequestFields(raw: raw, buffer: buffer, range: 0..<Int(raw.pointee.trailer_start)) }
    }

    /// Trailer fields that followed a chunked body (empty otherwise).
    public var trailers: RequestFields {
        @_lifetime(copy self)
        get {
            RequestFields(
                raw: raw, buffer: buffer,
                range: Int(raw.pointee.trailer_start)..<Int(raw.pointee.field_count))
        }
    }

    /// The body: read in full before the handler runs (in memory up to the configured size,
    /// else in an unlinked temporary file), or arriving while it runs
    /// (`Responder.async(bodies: .streamed)`).
    public var body: RequestBody {
        @_lifetime(copy self)
        get { RequestBody(raw: raw, connection: connection) }
    }

    /// The client's address: `203.0.113.7`, `2001:db8::1`, or nil for a Unix socket peer.
    /// Behind a load balancer in `--trusted-proxies`, the address its PROXY protocol header
    /// carried, or the client its forwarded field names (`--forwarded-header`; the
    /// rightmost hop that is not a trusted proxy).
    public var remoteAddress: String? {
        var storage = sockaddr_storage()
        let length = rv_conn_peer(connection, &storage)
        // Looked up here rather than carried by every request: most never ask.
        guard let context = rv_conn_handler_context(connection),
            let forwarding = Unmanaged<Application>.fromOpaque(context).takeUnretainedValue().forwarding
        else { return SocketAddress.numericHost(storage, length: length) }
        return forwarding.address(peer: storage, length: length, fields: headers)
    }

    /// The request as swift-http-types' `HTTPRequest`, for interoperation. This builds an
    /// `HTTPFields`, which costs far more than reading fields from `headers`.
    public var httpRequest: HTTPRequest {
        var fields = HTTPFields()
        let headers = self.headers
        for index in headers.indices {
            let field = headers[index]
            if let name = HTTPField.Name(field.name) {
                fields.append(HTTPField(name: name, value: field.value))
            }
        }
        let query = self.query.map { "?" + $0 } ?? ""
        return HTTPRequest(
            method: method, scheme: nil, authority: authority,
            path: method == .connect ? nil : path + query, headerFields: fields)
    }

    /// swift-http-types marks `.host` unavailable (it wants `authority`), but reading the
    /// field is how the authority is found.
    private static let hostField = HTTPField.Name("Host")!

    func bytes(_ span: rv_span) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: buffer + Int(span.off), count: Int(span.len))
    }

    func string(_ span: rv_span) -> String {
        String(decoding: bytes(span), as: UTF8.self)
    }
}

/// An HTTP version, as in `HTTP/1.1`.
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
    public var description: String { "HTTP/\(major).\(minor)" }
}
