/// Content-Type values for file name extensions, for the static file server.
///
/// What browsers and other clients fetch from a web server today (the IANA registrations,
/// and the WHATWG and MDN lists where they differ from old mime.types files), not the
/// whole of mime.types: an unknown extension gets `application/octet-stream`, which
/// browsers download instead of guessing (serving HTML from an unexpected extension would
/// be a way to inject script). `text/*` types say `charset=utf-8`, otherwise browsers fall
/// back to a legacy encoding. `--mime-type EXT=TYPE` adds to or overrides the table.
public enum MediaTypes {
    /// What a file of unknown type is sent as.
    public static let fallback = "application/octet-stream"

    /// The built-in media type for an extension (without the dot, any case); nil when
    /// unknown.
    public static func forExtension(_ fileExtension: some StringProtocol) -> String? {
        // Extensions are short, so lowercasing one stays in a small string: no allocation.
        table[fileExtension.lowercased()]
    }

    /// The media type for a file name or path, from the extension of its last component;
    /// `fallback` when it has none or an unknown one. A leading dot (`.profile`) marks a
    /// hidden file, not an extension. `overrides` (lowercase extensions) come first.
    public static func forFileName(_ name: some StringProtocol, overrides: [String: String] = [:]) -> String {
        guard let fileExtension = fileExtension(of: name) else { return fallback }
        if !overrides.isEmpty, let type = overrides[fileExtension.lowercased()] { return type }
        return forExtension(fileExtension) ?? fallback
    }

    /// The extension of a path's last component, without the dot; nil when it has none.
    static func fileExtension(of name: some StringProtocol) -> Substring? {
        // Substring: a generic StringProtocol's UTF8View only goes forwards.
        let name = Substring(name)
        let utf8 = name.utf8
        let nameStart = utf8.lastIndex(of: UInt8(ascii: "/")).map(utf8.index(after:)) ?? utf8.startIndex
        guard let dot = utf8[nameStart...].lastIndex(of: UInt8(ascii: ".")), dot != nameStart else { return nil }
        let fileExtension = name[name.index(after: dot)...]
        return fileExtension.isEmpty ? nil : fileExtension
    }

    private static let table: [String: String] = {
        var table: [String: String] = [:]
        for (type, extensions) in types {
            for fileExtension in extensions.split(separator: " ") { table[String(fileExtension)] = type }
        }
        return table
    }()

    private static let utf8 = "; charset=utf-8"

    /// Type, then its extensions.
    private static let types: KeyValuePairs<String, String> = [
        // Documents and code. RFC 9239: text/javascript, for modules as well.
        "text/html" + utf8: "html htm shtml",
        "application/xhtml+xml": "xhtml xht",
        "text/css" + utf8: "css",
        "text/javascript" + utf8: "js mjs cjs",
        "text/plain" + utf8: "txt text log conf ini",
        "text/markdown" + utf8: "md markdown",
        "text/csv" + utf8: "csv",
        "text/tab-separated-values" + utf8: "tsv",
        "text/calendar" + utf8: "ics ical",
        "text/vcard" + utf8: "vcf vcard",
        "text/vtt" + utf8: "vtt",
        "text/x-component" + utf8: "htc",
        // JSON is UTF-8 by definition and its registrations have no charset (RFC 8259);
        // source maps are JSON; XML declares its own encoding.
        "application/json": "json map",
        "application/ld+json": "jsonld",
        "application/manifest+json": "webmanifest",
        "application/geo+json": "geojson",
        "application/xml": "xml xsl xsd",
        "application/rss+xml": "rss",
        "application/atom+xml": "atom",
        "application/yaml": "yaml yml",
        "application/toml": "toml",
        "application/wasm": "wasm",  // browsers stream-compile WebAssembly only with this type
        "application/pdf": "pdf",
        "application/rtf": "rtf",
        "application/epub+zip": "epub",
        "application/msword": "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
        "application/vnd.ms-excel": "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
        "application/vnd.ms-powerpoint": "ppt",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
        "application/vnd.oasis.opendocument.text": "odt",
        "application/vnd.oasis.opendocument.spreadsheet": "ods",
        "application/vnd.oasis.opendocument.presentation": "odp",
        // Images.
        "image/avif": "avif",
        "image/webp": "webp",
        "image/png": "png",
        "image/apng": "apng",
        "image/jpeg": "jpg jpeg jpe jfif pjpeg pjp",
        "image/gif": "gif",
        "image/svg+xml": "svg svgz",
        "image/x-icon": "ico cur",
        "image/bmp": "bmp",
        "image/tiff": "tif tiff",
        "image/jxl": "jxl",
        "image/heic": "heic",
        "image/heif": "heif",
        // Fonts (RFC 8081), and the old embedded OpenType.
        "font/woff": "woff",
        "font/woff2": "woff2",
        "font/ttf": "ttf",
        "font/otf": "otf",
        "font/collection": "ttc",
        "application/vnd.ms-fontobject": "eot",
        // Audio and video.
        "audio/mpeg": "mp3",
        "audio/ogg": "ogg oga spx",
        "audio/opus": "opus",
        "audio/wav": "wav",
        "audio/flac": "flac",
        "audio/aac": "aac",
        "audio/mp4": "m4a",
        "audio/webm": "weba",
        "audio/midi": "mid midi",
        "video/mp4": "mp4 m4v",
        "video/webm": "webm",
        "video/ogg": "ogv",
        "video/quicktime": "mov",
        "video/x-matroska": "mkv",
        "video/mp2t": "ts",
        "video/3gpp": "3gp",
        "application/vnd.apple.mpegurl": "m3u8",
        "application/dash+xml": "mpd",
        // 3D models.
        "model/gltf+json": "gltf",
        "model/gltf-binary": "glb",
        // Archives and binaries. A .gz or .br file is the archive itself (no
        // Content-Encoding): the client gets the file as stored.
        "application/zip": "zip",
        "application/gzip": "gz tgz",
        "application/x-brotli": "br",
        "application/zstd": "zst",
        "application/x-tar": "tar",
        "application/x-7z-compressed": "7z",
        "application/vnd.rar": "rar",
        "application/x-bzip2": "bz2",
        "application/x-xz": "xz",
        "application/java-archive": "jar",
        "application/vnd.android.package-archive": "apk",
        "application/x-apple-diskimage": "dmg",
        "application/vnd.debian.binary-package": "deb",
        "application/x-x509-ca-cert": "crt der",
        "application/pgp-signature": "sig asc",
    ]
}
