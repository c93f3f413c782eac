import HTTPTypes

#if canImport(Glibc)
    import Glibc
#endif

/// The application `raptor-ev serve DIR` runs when no handler is given: the files under a
/// directory, over GET and HEAD.
///
/// - A file gets `Content-Type` (from its extension, `MediaTypes`, and `--mime-type`),
///   a strong `ETag`, `Last-Modified` (never later than the response's Date) and
///   `Accept-Ranges: bytes`; conditional requests, ranges and precompressed siblings are
///   answered as `FileResponses` says.
/// - A directory: `/dir` redirects (301) to `/dir/`, which serves `dir/index.html`, or
///   with `--listing` an HTML listing when there is none.
/// - Names starting with `.` are 404 unless `--dotfiles allow`, except `/.well-known/`.
/// - With `--fallback FILE`, a path that matches nothing and has no extension gets FILE.
/// - Nothing outside the directory is ever served, whatever the path or the symlinks say:
///   see `resolve(path:)` for the path rules and `ServedRoot` for the symlink check.
/// - Only regular files are served: devices, FIFOs and sockets are 404.
/// - Recently served files stay open (or in memory) in a per-process `FileCache`,
///   revalidated every second.
///
/// Any number of app threads can share one; the cache is its only shared state.
public struct StaticFiles: Sendable {
    let root: ServedRoot
    let options: Options
    let cache: FileCache
    /// `options.fallback` resolved against the root.
    let fallbackName: String?

    /// Serves the directory at `root` (resolved once, with realpath: a symlink to the
    /// directory is fine). Throws `RaptorError.invalidConfiguration` naming the option when
    /// the directory is missing, not a directory or not readable (`DIR`), or an option is
    /// invalid (a `--fallback` that is not a file in the directory, say).
    public init(root: String, options: Options = Options()) throws {
        try options.validate()
        let served = try ServedRoot(path: root)
        self.root = served
        self.options = options
        cache = FileCache(capacity: options.fileCache)
        fallbackName = try options.fallback.map { fallback in
            guard case .file(let relative, _) = Self.resolve(path: "/" + fallback),
                case .entry(let descriptor, let status) = served.openEntry(relative)
            else {
                throw RaptorError.invalidConfiguration(
                    option: "--fallback", message: "'\(fallback)' is not a file in '\(root)'")
            }
            close(descriptor)
            guard status.st_mode & S_IFMT == S_IFREG else {
                throw RaptorError.invalidConfiguration(
                    option: "--fallback", message: "'\(fallback)' is not a regular file in '\(root)'")
            }
            return relative
        }
    }

    /// The canonical path of the served directory.
    public var rootPath: String { String(decoding: root.path, as: UTF8.self) }

    public func respond(to request: Request) -> Response {
        let method = request.method
        guard method == .get || method == .head else { return Self.methodNotAllowed }
        return respond(to: FileRequest(request))
    }

    /// `respond(to:)` on the parts of a request it reads.
    ///
    /// A 200 or 206 response's body may be a `.file` or `.fileParts`, which owns its
    /// descriptor: closed once sent, or when the response is dropped.
    public func respond(to request: FileRequest) -> Response {
        guard request.method == .get || request.method == .head else { return Self.methodNotAllowed }
        let relative: String
        let trailingSlash: Bool
        switch Self.resolve(path: request.path) {
        case .badRequest: return Self.badRequest
        case .notFound: return Self.notFound
        case .file(let resolved, let slash):
            relative = resolved
            trailingSlash = slash
        }
        if options.dotfiles == .deny && DotfilePolicy.isHidden(relative) { return Self.notFound }
        // With a trailing slash the name is a directory's: its index is opened directly,
        // so `/file.txt/` fails in the kernel (ENOTDIR) and costs no extra call.
        let name =
            trailingSlash
            ? (relative.isEmpty ? Self.indexName : relative + "/" + Self.indexName)
            : (relative.isEmpty ? "." : relative)
        switch find(name) {
        case .file(let file):
            return FileResponses.respond(file, to: request)
        case .exhausted:
            return Self.unavailable
        case .directory where !trailingSlash:
            // A directory named without its slash: send the client to the slash, so the
            // index's relative links resolve inside the directory.
            return Response(
                status: .movedPermanently,
                headers: [
                    .location: Self.directoryLocation(path: request.path, query: request.query),
                    .contentType: Self.textType,
                ],
                body: "Moved Permanently\n")
        case .directory, .other:
            // An index.html that is a directory is no index; devices, FIFOs, sockets.
            return Self.notFound
        case .missing:
            return missing(relative, trailingSlash: trailingSlash, request: request)
        }
    }

    /// Nothing by that name: a listing of the directory whose index is missing, the
    /// fallback of a single-page application, or 404.
    private func missing(_ relative: String, trailingSlash: Bool, request: FileRequest) -> Response {
        if trailingSlash {
            switch root.openEntry(relative.isEmpty ? "." : relative) {
            case .entry(let descriptor, let status):
                guard status.st_mode & S_IFMT == S_IFDIR, options.listing else {
                    close(descriptor)
                    return Self.notFound
                }
                return DirectoryListing.response(
                    directory: descriptor, relative: relative, root: root, dotfiles: options.dotfiles,
                    method: request.method)
            case .exhausted:
                return Self.unavailable
            case .missing:
                break
            }
        }
        // A path with an extension names a file (an asset): missing is missing.
        if let fallbackName, !Self.hasExtension(relative), case .file(let file) = find(fallbackName) {
            return FileResponses.respond(file, to: request)
        }
        return Self.notFound
    }

    /// What a name leads to: from the cache while it is fresh (or still the same on disk),
    /// else opened, checked to be under the root, and cached when it is a regular file.
    enum Found {
        case file(CachedFile)
        case directory
        case other
        case missing
        case exhausted
    }

    func find(_ name: String) -> Found {
        switch cache.lookup(name) {
        case .fresh(let file):
            return .file(file)
        case .due(let file):
            if file.isCurrent(root: root) { return .file(file) }
            cache.remove(file)
        case .absent:
            break
        }
        switch root.openEntry(name) {
        case .missing:
            return .missing
        case .exhausted:
            return .exhausted
        case .entry(let descriptor, let status):
            let type = status.st_mode & S_IFMT
            guard type == S_IFREG else {
                close(descriptor)
                return type == S_IFDIR ? .directory : .other
            }
            let cacheControl =
                options.cacheFingerprinted && Fingerprint.isFingerprinted(name)
                ? Options.immutableCacheControl : options.cacheControl
            let file = CachedFile.load(
                name: name, descriptor: descriptor, status: status, root: root, precompressed: options.precompressed,
                contentType: MediaTypes.forFileName(name, overrides: options.mimeTypes), cacheControl: cacheControl)
            cache.store(file)
            return .file(file)
        }
    }

    /// True when the last segment has a dot after its first byte (`app.js`, not `users`).
    static func hasExtension(_ relative: String) -> Bool {
        let utf8 = relative.utf8
        let start = utf8.lastIndex(of: UInt8(ascii: "/")).map(utf8.index(after:)) ?? utf8.startIndex
        return utf8[start...].dropFirst().contains(UInt8(ascii: "."))
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
