// Mapping a request path to a path under the served directory: pure string work, no file
// system access, so every traversal trick can be tested without a server.

extension StaticFiles {
    /// Where a request path leads, before the file system is asked.
    public enum Resolution: Sendable, Equatable {
        /// A path relative to the root: segments joined by `/`, none empty, `.` or `..`;
        /// "" is the root itself. `trailingSlash` tells whether the request path ended
        /// with `/`.
        case file(String, trailingSlash: Bool)
        /// Answered with 400: the path is malformed or encodes a separator, NUL or `\`.
        case badRequest
        /// Answered with 404: the path has a `..` segment.
        case notFound
    }

    /// Resolves a request path as sent (percent-encoded, without the query).
    ///
    /// The rules, and the status each refusal gets:
    /// - The path is split on the `/` bytes as sent, then each segment is percent-decoded.
    ///   A segment is never decoded into more than one, so `%2F` cannot add a separator.
    /// - 400 Bad Request: a path that does not start with `/` (after taking the path out of an
    ///   absolute-form target), a malformed escape (`%`, `%4`, `%zz`), or a segment that
    ///   decodes to NUL (`%00`), `/` (`%2F`) or a backslash (`\` or `%5C`): no legitimate
    ///   link produces them, and refusing them keeps every file name reachable by one spelling.
    ///   Also 400: a path that does not decode to UTF-8 (the same rule as
    ///   `Request.decodedPath`; such names are unreachable, which is a choice, not a risk).
    /// - 404 Not Found: any `..` segment, spelled plainly or encoded (`%2e%2e`). Even one that
    ///   would stay inside the root (`/a/../b`) is refused: browsers and curl remove dot
    ///   segments before sending (RFC 3986 section 5.2.4), so only hand-made requests carry
    ///   them, and refusing them all needs no reasoning about where a walk up would end.
    ///   404 rather than 400 because the answer is "there is no such file here".
    /// - Empty segments (`//`) and `.` segments are dropped; the trailing slash is kept as a
    ///   flag, since it decides between redirecting to a directory and serving its index.
    public static func resolve(path: String) -> Resolution {
        plainPath(path) ?? walk(path: path)
    }

    /// The general resolution, segment by segment, decoding as it goes.
    static func walk(path: String) -> Resolution {
        guard var origin = originPath(path) else { return .badRequest }
        return origin.withUTF8 { resolve(origin: $0) }
    }

    /// What `resolve(path:)` gives for the common path that needs no work: printable ASCII
    /// without `%` or `\\`, starting with `/`, no segment empty or starting with a dot. Its
    /// segments are the relative path as they are, without an allocation; nil for any other
    /// path (`walk(path:)` decides those).
    private static func plainPath(_ path: String) -> Resolution? {
        var path = path
        return path.withUTF8 { bytes in
            guard bytes.first == slash else { return nil }
            var previous = slash
            for byte in bytes.dropFirst() {
                guard byte > 0x20, byte < 0x7F, byte != percent, byte != backslash else { return nil }
                if previous == slash && (byte == slash || byte == dot) { return nil }
                previous = byte
            }
            let trailingSlash = previous == slash
            let end = trailingSlash && bytes.count > 1 ? bytes.count - 1 : bytes.count
            let relative = String(decoding: UnsafeBufferPointer(rebasing: bytes[1..<end]), as: UTF8.self)
            return .file(relative, trailingSlash: trailingSlash)
        }
    }

    /// `resolve(path:)` on the bytes of a path that starts with `/`.
    private static func resolve(origin: UnsafeBufferPointer<UInt8>) -> Resolution {
        // Decoding only shrinks, so one allocation of the input's size is enough.
        var output: [UInt8] = []
        output.reserveCapacity(origin.count)
        var segmentStart = 0
        var index = 1
        while true {
            if index == origin.count || origin[index] == slash {
                // output[segmentStart...] is the decoded segment just ended.
                switch output.count - segmentStart {
                case 0:
                    break
                case 1 where output[segmentStart] == dot:
                    output.removeLast()
                case 2 where output[segmentStart] == dot && output[segmentStart + 1] == dot:
                    return .notFound
                default:
                    output.append(slash)
                }
                segmentStart = output.count
                if index == origin.count { break }
                index += 1
                continue
            }
            var byte = origin[index]
            index += 1
            if byte == percent {
                guard origin.count - index >= 2, let high = hexValue(origin[index]),
                    let low = hexValue(origin[index + 1])
                else { return .badRequest }
                index += 2
                byte = high << 4 | low
                if byte == slash { return .badRequest }
            }
            if byte == 0 || byte == backslash { return .badRequest }
            output.append(byte)
        }
        if output.last == slash { output.removeLast() }
        guard let relative = String(validating: output, as: UTF8.self) else { return .badRequest }
        return .file(relative, trailingSlash: origin.last == slash)
    }

    /// The Location of the redirect from a directory path without its trailing slash to
    /// the one with it, keeping the query. The path is echoed as sent (so its encoding is
    /// the client's own), except that a leading run of slashes becomes one: `//host/dir`
    /// must not turn into `//host/dir/`, which a browser would read as another site.
    public static func directoryLocation(path: String, query: String?) -> String {
        let origin = originPath(path) ?? "/"
        var location = "/"
        location += origin.drop { $0 == "/" }
        location += "/"
        if let query {
            location += "?"
            location += query
        }
        return location
    }

    /// The path part of a target: the target itself when it starts with `/`, the part after
    /// the authority for absolute-form (`http://host/path`, which RFC 9112 section 3.2.2
    /// says a server must accept), else nil.
    static func originPath(_ path: String) -> Substring? {
        if path.utf8.first == slash { return path[...] }
        for scheme in ["http://", "https://"] where hasPrefixIgnoringCase(path, scheme) {
            let rest = path.utf8.dropFirst(scheme.utf8.count)
            guard let start = rest.firstIndex(of: slash) else { return "/" }
            return path[start...]
        }
        return nil
    }

    static func hasPrefixIgnoringCase(_ text: String, _ prefix: String) -> Bool {
        text.utf8.count >= prefix.utf8.count
            && zip(text.utf8, prefix.utf8).allSatisfy { ASCII.lowercased($0) == $1 }
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

private let slash = UInt8(ascii: "/")
private let dot = UInt8(ascii: ".")
private let percent = UInt8(ascii: "%")
private let backslash = UInt8(ascii: "\\")
