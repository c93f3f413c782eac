import HTTPTypes

#if canImport(Glibc)
    import Glibc
#endif

/// `--listing`: a plain HTML page for a directory without index.html. Directories first,
/// then files, each group sorted by name; sizes in bytes and modification times in UTC.
/// No script and no external resource. Names are HTML-escaped in the text and
/// percent-encoded in the links, so a file named `<script>` or `a"b` is just a name.
/// Entries that would not be served are not listed: dotfiles (unless allowed; `.well-known`
/// at the root is listed, as it is served), names that are not UTF-8 (no request path
/// reaches them), symlinks that lead outside the root, dangling links, devices, FIFOs and
/// sockets.
enum DirectoryListing {
    /// Entries past this many are left out (and the page says how many).
    static let maximumEntries = 10_000

    struct Entry {
        var name: String
        var isDirectory: Bool
        var size: Int64
        var modified: Int
    }

    /// The listing of the directory open at `directory` (taken over and closed), whose
    /// path under the root is `relative` ("" for the root).
    static func response(
        directory: Int32, relative: String, root: ServedRoot, dotfiles: StaticFiles.DotfilePolicy,
        method: HTTPRequest.Method
    ) -> Response {
        guard let stream = fdopendir(directory) else {
            close(directory)
            return StaticFiles.unavailable
        }
        defer { closedir(stream) }
        var entries: [Entry] = []
        var omitted = 0
        while let record = readdir(stream) {
            let name = withUnsafeBytes(of: record.pointee.d_name) { raw in
                String(validating: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let name, name != ".", name != ".." else { continue }
            let path = relative.isEmpty ? name : relative + "/" + name
            if dotfiles == .deny && StaticFiles.DotfilePolicy.isHidden(path) { continue }
            guard let entry = entry(name, in: directory, path: path, root: root) else { continue }
            if entries.count == maximumEntries {
                omitted += 1
                continue
            }
            entries.append(entry)
        }
        // Directories first, then by name, byte for byte (the order of the code points).
        entries.sort {
            $0.isDirectory != $1.isDirectory ? $0.isDirectory : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8)
        }
        let page = html(entries, omitted: omitted, title: "/" + relative + (relative.isEmpty ? "" : "/"))
        return Response(
            status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
            body: .bytes(Array(page.utf8)))
    }

    /// What the listing says of `name`, or nil when it would not be served.
    private static func entry(_ name: String, in directory: Int32, path: String, root: ServedRoot) -> Entry? {
        var status = stat()
        guard fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        if status.st_mode & S_IFMT == S_IFLNK {
            // Where it leads decides, as when serving it: through the root's own check.
            guard case .entry(let target, let targetStatus) = root.openEntry(path) else { return nil }
            close(target)
            status = targetStatus
        }
        let type = status.st_mode & S_IFMT
        guard type == S_IFREG || type == S_IFDIR else { return nil }
        return Entry(
            name: name, isDirectory: type == S_IFDIR, size: Int64(status.st_size),
            modified: Int(status.st_mtim.tv_sec))
    }

    static func html(_ entries: [Entry], omitted: Int, title: String) -> String {
        let title = escape("Index of " + title)
        var page = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title)</title>
            <style>body{font-family:system-ui,sans-serif;margin:2em}td,th{padding:.2em 1.5em .2em 0;text-align:left}td.size{text-align:right}</style>
            </head>
            <body>
            <h1>\(title)</h1>
            <table>
            <thead><tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr></thead>
            <tbody>

            """
        if title != escape("Index of /") {
            page += "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n"
        }
        for entry in entries {
            let suffix = entry.isDirectory ? "/" : ""
            page += "<tr><td><a href=\"\(percentEncoded(entry.name))\(suffix)\">\(escape(entry.name))\(suffix)</a></td>"
            page += "<td class=\"size\">\(entry.isDirectory ? "-" : String(entry.size))</td>"
            page += "<td>\(timestamp(entry.modified))</td></tr>\n"
        }
        page += "</tbody>\n</table>\n"
        if omitted > 0 { page += "<p>\(omitted) more entries not shown.</p>\n" }
        return page + "</body>\n</html>\n"
    }

    /// Text for HTML content and attribute values.
    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// A name as one relative path segment: every byte but the unreserved ones (RFC 3986
    /// section 2.3) percent-encoded, so `:` cannot make it a scheme, `?` and `#` stay in
    /// the name, and nothing needs HTML escaping.
    static func percentEncoded(_ name: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `2020-01-02 03:04`
    static func timestamp(_ seconds: Int) -> String {
        let days = HTTPDate.floorDivide(seconds, 86_400)
        let (year, month, day) = HTTPDate.civil(fromDays: days)
        let minuteOfDay = (seconds - days * 86_400) / 60
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day)) \(two(minuteOfDay / 60)):\(two(minuteOfDay % 60))"
    }
}
