/// Content-Type values for file name extensions, for the static file server.
///
/// A small fixed table of what websites serve, not the whole of mime.types: an unknown
/// extension gets `application/octet-stream`, which browsers download instead of
/// guessing (serving HTML from an unexpected extension would be a way to inject script).
/// `text/*` types say `charset=utf-8`, otherwise browsers fall back to a legacy encoding.
public enum MediaTypes {
    /// What a file of unknown type is sent as.
    public static let fallback = "application/octet-stream"

    /// The media type for an extension (without the dot, any case); nil when unknown.
    public static func forExtension(_ fileExtension: some StringProtocol) -> String? {
        // Extensions are short, so lowercasing one stays in a small string: no allocation.
        switch fileExtension.lowercased() {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        // RFC 9239: text/javascript is the one to use, for modules as well.
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "txt": return "text/plain; charset=utf-8"
        case "md": return "text/markdown; charset=utf-8"
        case "csv": return "text/csv; charset=utf-8"
        // JSON is UTF-8 by definition and its registration has no charset (RFC 8259);
        // XML declares its own encoding.
        case "json": return "application/json"
        case "xml": return "application/xml"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "avif": return "image/avif"
        case "ico": return "image/x-icon"
        // Browsers compile WebAssembly while it streams in only with this exact type.
        case "wasm": return "application/wasm"
        case "pdf": return "application/pdf"
        case "zip": return "application/zip"
        // A .gz file is the archive itself (no Content-Encoding): the client gets the file.
        case "gz": return "application/gzip"
        case "mp4": return "video/mp4"
        case "webm": return "video/webm"
        case "mp3": return "audio/mpeg"
        case "woff": return "font/woff"
        case "woff2": return "font/woff2"
        case "ttf": return "font/ttf"
        case "otf": return "font/otf"
        default: return nil
        }
    }

    /// The media type for a file name or path, from the extension of its last component;
    /// `fallback` when it has none or an unknown one. A leading dot (`.profile`) marks a
    /// hidden file, not an extension.
    public static func forFileName(_ name: some StringProtocol) -> String {
        // Substring: a generic StringProtocol's UTF8View only goes forwards.
        let name = Substring(name)
        let utf8 = name.utf8
        let nameStart = utf8.lastIndex(of: UInt8(ascii: "/")).map(utf8.index(after:)) ?? utf8.startIndex
        guard let dot = utf8[nameStart...].lastIndex(of: UInt8(ascii: ".")), dot != nameStart else {
            return fallback
        }
        let fileExtension = name[name.index(after: dot)...]
        return forExtension(fileExtension) ?? fallback
    }
}
