/// Small text rules of RFC 9110 that the static file server applies to field values.
enum FieldText {
    /// field-value characters only (section 5.5: visible ASCII, SP, HTAB; no obs-text),
    /// not empty, no leading or trailing whitespace: what a value given on the command line
    /// may be before the server repeats it in every response.
    static func isConfiguredValue(_ value: String) -> Bool {
        guard let first = value.utf8.first, let last = value.utf8.last else { return false }
        if first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09 { return false }
        return value.utf8.allSatisfy { $0 == 0x09 || (0x20...0x7E).contains($0) }
    }

    /// tchar (section 5.6.2).
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

extension StringProtocol {
    /// Without leading and trailing optional whitespace (SP and HTAB).
    var trimmingOWS: Substring {
        let text = Substring(self)
        let isWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isWhitespace($0) }) else { return text[text.endIndex...] }
        let last = text.lastIndex(where: { !isWhitespace($0) })!
        return text[first...last]
    }
}
