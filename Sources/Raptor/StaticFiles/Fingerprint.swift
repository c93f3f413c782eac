/// Fingerprinted asset names: a build tool put a hash of the content in the name
/// (`app.3f9a1c.js`, `main.3f9a1c2b.chunk.js`, `logo-9b2e41d07a.svg`), so the content under
/// that name never changes and a client may keep it for a year (`immutable`).
enum Fingerprint {
    /// True when a segment of the file name without its extension (segments are separated
    /// by `.`, `-` or `_`) is 6 to 64 lowercase hex digits with at least one digit and one
    /// letter. Both are required so that words (`facade`) and numbers (a date, `20240115`,
    /// a version) are never taken for a hash: a name wrongly seen as fingerprinted would be
    /// cached by clients for a year, one wrongly missed only loses the long cache.
    static func isFingerprinted(_ path: String) -> Bool {
        let utf8 = path.utf8
        let nameStart = utf8.lastIndex(of: UInt8(ascii: "/")).map(utf8.index(after:)) ?? utf8.startIndex
        let name = utf8[nameStart...]
        // Without the extension (when there is one that is not the whole name).
        let stem = name.lastIndex(of: UInt8(ascii: ".")).flatMap { $0 == name.startIndex ? nil : name[..<$0] } ?? name
        var length = 0
        var digits = false
        var letters = false
        var hex = true
        for byte in stem + [UInt8(ascii: ".")] {
            switch byte {
            case UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
                if hex && digits && letters && (6...64).contains(length) { return true }
                (length, digits, letters, hex) = (0, false, false, true)
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                length += 1
                digits = true
            case UInt8(ascii: "a")...UInt8(ascii: "f"):
                length += 1
                letters = true
            default:
                length += 1
                hex = false
            }
        }
        return false
    }
}
