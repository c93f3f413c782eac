/// The little JSON the log lines need, written by hand: a log line is a flat object of
/// strings and numbers, and an encoder (Foundation's or Codable's) would cost far more than
/// the escaping rules of RFC 8259, section 7.
enum JSONText {
    /// Appends `value` as a JSON string literal, quotes included.
    static func appendString(_ value: String, to output: inout String) {
        output.append("\"")
        appendEscaped(value, to: &output)
        output.append("\"")
    }

    /// `value` as a JSON string literal, quotes included.
    static func string(_ value: String) -> String {
        var output = ""
        appendString(value, to: &output)
        return output
    }

    /// Appends `value` escaped for the inside of a JSON string: `"` and `\` get a
    /// backslash, and every control character (U+0000 to U+001F) an escape, the short form
    /// where RFC 8259 has one. Everything else is copied as UTF-8, which JSON allows.
    ///
    /// With `quotesAndBackslashes: false` only control characters are escaped: what a
    /// plain-text line needs to stay one line.
    static func appendEscaped(
        _ value: String, to output: inout String, quotesAndBackslashes: Bool = true
    ) {
        let needsEscape: (UInt8) -> Bool = { byte in
            quotesAndBackslashes ? Self.needsEscape(byte) : byte < 0x20
        }
        // Most values need no escape at all: copy them in one piece.
        guard value.utf8.contains(where: needsEscape) else {
            output.append(value)
            return
        }
        var pendingStart = value.unicodeScalars.startIndex
        var index = pendingStart
        let scalars = value.unicodeScalars
        while index != scalars.endIndex {
            let scalar = scalars[index]
            if scalar.value < 0x80, needsEscape(UInt8(scalar.value)) {
                output.unicodeScalars.append(contentsOf: scalars[pendingStart..<index])
                output.append(escape(UInt8(scalar.value)))
                pendingStart = scalars.index(after: index)
            }
            index = scalars.index(after: index)
        }
        output.unicodeScalars.append(contentsOf: scalars[pendingStart..<scalars.endIndex])
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    private static func escape(_ byte: UInt8) -> String {
        switch byte {
        case UInt8(ascii: "\""): return "\\\""
        case UInt8(ascii: "\\"): return "\\\\"
        case 0x08: return "\\b"
        case 0x0C: return "\\f"
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        default:
            let hexDigits = Array("0123456789abcdef")
            return "\\u00" + String(hexDigits[Int(byte >> 4)]) + String(hexDigits[Int(byte & 0xF)])
        }
    }
}
