import HTTPTypes

#if canImport(Glibc)
    import Glibc
#endif

/// The application `raptor-ev serve DIR` runs when no handler is given: the files under a
/// directory, over GET and HEAD.
///
/// - A file is sent with sendfile(2) (`Response.Body.file`), with `Content-Type` from its
///   extension (`MediaTypes`) and `Last-Modified`; `If-Modified-Since` gets 304.
/// - A directory: `/dir` redirects (301) to `/dir/`, which serves `dir/index.html`;
///   there are no listings.
/// - Nothing outside the directory is ever served, whatever the path or the symlinks say:
///   see `resolve(path:)` for the path rules and `ServedRoot` for the symlink check.
/// - Only regular files are served: devices, FIFOs and sockets are 404.
///
/// It holds no mutable state, so any number of app threads can share one.
public struct StaticFiles: Sendable {
    let root: ServedRoot

    /// Serves the directory at `root` (resolved once, with realpath: a symlink to the
    /// directory is fine). Throws `RaptorError.invalidConfiguration` (option `DIR`) when
    /// it is missing, not a directory, or not readable.
    public init(root: String) throws {
        self.root = try ServedRoot(path: root)
    }

    /// The canonical path of the served directory.
    public var rootPath: String { String(decoding: root.path, as: UTF8.self) }

    public func respond(to request: Request) -> Response {
        let method = request.method
        guard method == .get || method == .head else { return Self.methodNotAllowed }
        let headers = request.headers
        var ifModifiedSince: String? = nil
        // RFC 9110 section 13.1.3: ignored next to If-None-Match (which takes precedence;
        // with no ETags here it is not evaluated) and when it has more than one member.
        if let value = headers[.ifModifiedSince], !headers.contains(.ifNoneMatch),
            headers.values(for: .ifModifiedSince).count == 1
        {
            ifModifiedSince = value
        }
        return respond(method: method, path: request.path, query: request.query, ifModifiedSince: ifModifiedSince)
    }

    /// `respond(to:)` on the parts of a request it reads, so it can run without a
    /// connection (tests, or a handler that serves files under a prefix of its own).
    /// `path` is percent-encoded, as sent; `ifModifiedSince` is the field's value.
    ///
    /// A 200 response's body is a `.file` whose descriptor the server closes once sent;
    /// code that drops such a response without sending it must close the descriptor.
    public func respond(
        method: HTTPRequest.Method, path: String, query: String?, ifModifiedSince: String?
    ) -> Response {
        guard method == .get || method == .head else { return Self.methodNotAllowed }
        let relative: String
        let trailingSlash: Bool
        switch Self.resolve(path: path) {
        case .badRequest: return Self.badRequest
        case .notFound: return Self.notFound
        case .file(let resolved, let slash):
            relative = resolved
            trailingSlash = slash
        }
        // With a trailing slash the name is a directory's: its index is opened directly,
        // so `/file.txt/` fails in the kernel (ENOTDIR) and costs no extra call.
        let name =
            trailingSlash
            ? (relative.isEmpty ? Self.indexName : relative + "/" + Self.indexName)
            : (relative.isEmpty ? "." : relative)
        switch root.openEntry(name) {
        case .missing:
            return Self.notFound
        case .exhausted:
            return Self.unavailable
        case .entry(let descriptor, let status):
            let type = status.st_mode & S_IFMT
            guard type == S_IFREG else {
                close(descriptor)
                // A directory named without its slash: send the client to the slash, so
                // the index's relative links resolve inside the directory.
                if type == S_IFDIR && !trailingSlash {
                    return Response(
                        status: .movedPermanently,
                        headers: [
                            .location: Self.directoryLocation(path: path, query: query),
                            .contentType: Self.textType,
                        ],
                        body: "Moved Permanently\n")
                }
                return Self.notFound
            }
            return fileResponse(descriptor: descriptor, status: status, name: name, ifModifiedSince: ifModifiedSince)
        }
    }

    private func fileResponse(descriptor: Int32, status: stat, name: String, ifModifiedSince: String?) -> Response {
        // RFC 9110 section 8.8.2.1: a modification time in the future (clock skew, a
        // touched file) is replaced by now, or a client could cache the future date and
        // never see the next change.
        let lastModified = min(Int(status.st_mtim.tv_sec), Int(time(nil)))
        let lastModifiedText = HTTPDate.format(lastModified)
        // Second precision on both sides; an unparsable date is ignored (section 13.1.3).
        if let ifModifiedSince, let since = HTTPDate.parse(ifModifiedSince), lastModified <= since {
            close(descriptor)
            return Response(status: .notModified, headers: [.lastModified: lastModifiedText])
        }
        // HEAD too gets the file: the engine sends no body for HEAD but takes the
        // Content-Length from it, and closes the descriptor.
        let region = FileRegion(fileDescriptor: descriptor, offset: 0, length: UInt64(status.st_size))
        return Response(
            status: .ok,
            headers: [.contentType: MediaTypes.forFileName(name), .lastModified: lastModifiedText],
            body: .file(region))
    }

    static let indexName = "index.html"
    static let textType = "text/plain; charset=utf-8"

    // Prebuilt: the error answers cost nothing to build per request.
    static let methodNotAllowed = Response(
        status: .methodNotAllowed, headers: [.allow: "GET, HEAD", .contentType: textType],
        body: "Method Not Allowed\n")
    static let badRequest = Response(
        status: .badRequest, headers: [.contentType: textType], body: "Bad Request\n")
    static let notFound = Response(status: .notFound, headers: [.contentType: textType], body: "Not Found\n")
    static let unavailable = Response(
        status: .serviceUnavailable, headers: [.retryAfter: "1", .contentType: textType],
        body: "Service Unavailable\n")
}
