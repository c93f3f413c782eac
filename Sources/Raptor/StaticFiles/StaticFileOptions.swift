extension StaticFiles {
    /// How `raptor-ev serve DIR` serves its directory; each property is one command-line
    /// flag (`cacheControl` is `--cache-control`, and so on). The defaults are the safe
    /// ones: nothing cached by clients unless asked, no listings, no dotfiles.
    public struct Options: Sendable, Equatable {
        /// `Cache-Control` of every file response (200, 206 and 304); nil (default): none.
        public var cacheControl: String? = nil
        /// Files whose name carries a hex content hash (`app.3f9a1c.js`) get
        /// `Cache-Control: max-age=31536000, immutable` (over `cacheControl`):
        /// their content never changes under that name. Default off.
        public var cacheFingerprinted: Bool = false
        /// Extensions (lowercase, no dot) to media types, over the built-in table.
        public var mimeTypes: [String: String] = [:]
        /// Names starting with `.`: 404 (default), except `/.well-known/`, or served.
        public var dotfiles: DotfilePolicy = .deny
        /// An HTML listing for a directory without index.html. Default off (404).
        public var listing: Bool = false
        /// A file (relative to the directory) sent with 200 for a GET or HEAD of a path that
        /// matches nothing and has no extension in its last segment: the single-page
        /// application fallback. nil (default): 404.
        public var fallback: String? = nil
        /// Serve `x.br`, `x.zst` or `x.gz` for `x` when the client accepts the coding and
        /// the sibling is not older than `x`. Default on.
        public var precompressed: Bool = true
        /// Files kept open (or in memory when small) per worker process; 0 turns the cache
        /// off (every request opens its file). Default 256.
        public var fileCache: Int = 256

        public init() {}

        /// The Cache-Control of fingerprinted files.
        public static let immutableCacheControl = "max-age=31536000, immutable"

        /// Checks every value; the error names the flag and says what is wrong.
        public func validate() throws {
            func fail(_ option: String, _ message: String) throws -> Never {
                throw RaptorError.invalidConfiguration(option: option, message: message)
            }
            if let cacheControl {
                if cacheControl.allSatisfy({ $0 == " " || $0 == "\t" }) {
                    try fail("--cache-control", "the value is empty")
                }
                if !FieldText.isConfiguredValue(cacheControl) {
                    try fail(
                        "--cache-control",
                        "'\(cacheControl)' is not a valid field value (visible ASCII and spaces, no leading or trailing space)"
                    )
                }
            }
            for (fileExtension, type) in mimeTypes.sorted(by: { $0.key < $1.key }) {
                if let problem = Self.problem(withExtension: fileExtension) {
                    try fail("--mime-type", "'\(fileExtension)=\(type)': \(problem)")
                }
                if !Self.isMediaType(type) {
                    try fail(
                        "--mime-type",
                        "'\(fileExtension)=\(type)': '\(type)' is not a media type (type/subtype, optional ; parameters)"
                    )
                }
            }
            if let fallback {
                guard case .file(let relative, false) = StaticFiles.resolve(path: "/" + fallback), !relative.isEmpty
                else {
                    try fail("--fallback", "'\(fallback)' is not a file path inside the directory")
                }
                if dotfiles == .deny && DotfilePolicy.isHidden(relative) {
                    try fail("--fallback", "'\(fallback)' is a dotfile, which --dotfiles deny refuses")
                }
            }
            if fileCache < 0 || fileCache > 1 << 20 {
                try fail("--file-cache", "must be between 0 (off) and \(1 << 20)")
            }
        }

        /// The extension part of `--mime-type EXT=TYPE`, lowercased and without a leading
        /// dot; nil plus a reason when it cannot be one.
        static func problem(withExtension fileExtension: String) -> String? {
            if fileExtension.isEmpty { return "the extension is empty" }
            if fileExtension.contains(where: { $0 == "." || $0 == "/" }) {
                return "an extension is what follows the last dot of a name (no dot or slash in it)"
            }
            let allowed = { (byte: UInt8) in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(ASCII.lowercased(byte))
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || "+-_".utf8.contains(byte)
            }
            if !fileExtension.utf8.allSatisfy(allowed) {
                return "an extension is letters, digits, '+', '-' or '_'"
            }
            return nil
        }

        /// `type "/" subtype *( OWS ";" OWS parameter )` (RFC 9110 section 8.3.1), loosely
        /// for the parameters (any field-value characters).
        static func isMediaType(_ value: String) -> Bool {
            guard FieldText.isConfiguredValue(value) else { return false }
            let essence = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0].trimmingOWS
            let parts = essence.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 2
                && parts.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy(FieldText.isTokenCharacter) }
        }
    }

    /// What happens to names that start with a dot (`.env`, `.git/config`).
    public enum DotfilePolicy: String, Sendable, CaseIterable {
        /// 404, as if they did not exist; `/.well-known/` (RFC 8615) is served.
        case deny
        /// Served like any other file.
        case allow

        /// True when a resolved path (segments joined by `/`) has a segment starting with
        /// a dot, other than a leading `.well-known`.
        static func isHidden(_ relative: String) -> Bool {
            var relative = relative
            return relative.withUTF8 { bytes in
                for index in bytes.indices where bytes[index] == dot && (index == 0 || bytes[index - 1] == slash) {
                    if index == 0 && isWellKnown(UnsafeBufferPointer(rebasing: bytes[index...])) { continue }
                    return true
                }
                return false
            }
        }

        /// `rest` starts with ".well-known" followed by the end or a slash.
        private static func isWellKnown(_ rest: UnsafeBufferPointer<UInt8>) -> Bool {
            let name: StaticString = ".well-known"
            let count = name.utf8CodeUnitCount
            guard rest.count >= count, name.withUTF8Buffer({ rest.starts(with: $0) }) else { return false }
            return rest.count == count || rest[count] == slash
        }
    }
}

private let dot = UInt8(ascii: ".")
private let slash = UInt8(ascii: "/")
