/// Percent-decoding of request-target components (RFC 3986 section 2.1).
public enum PercentDecoding {
    /// Decodes `%XX` escapes; nil when an escape is malformed or the result is not UTF-8.
    /// `+` stays `+` (it means a space only in form-encoded queries: see `formItems`).
    public static func decode(_ text: String) -> String? {
        decodeBytes(text.utf8, plusAsSpace: false).flatMap { String(validating: $0, as: UTF8.self) }
    }

    /// Decodes `%XX` escapes into raw bytes (which may include NUL or `/`: callers that
    /// map paths to files must check); nil when an escape is malformed.
    public static func decodeBytes(_ text: some Collection<UInt8>, plusAsSpace: Bool) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(text.count)
        var iterator = text.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue),
                    let low = iterator.next().flatMap(hexValue)
                else { return nil }
                output.append(high << 4 | low)
            case UInt8(ascii: "+") where plusAsSpace:
                output.append(UInt8(ascii: " "))
            default:
                output.append(byte)
            }
        }
        return output
    }

    /// Splits an `application/x-www-form-urlencoded` query into decoded pairs; a pair that
    /// does not decode is skipped.
    public static func formItems(_ query: String) -> [(name: String, value: String)] {
        query.utf8.split(separator: UInt8(ascii: "&")).compactMap { pair in
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decodeBytes(parts[0], plusAsSpace: true),
                let value = decodeBytes(parts.count > 1 ? parts[1] : [], plusAsSpace: true)
            else { return nil }
            return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
