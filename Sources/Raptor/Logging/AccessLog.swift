#if canImport(Glibc)
    import Glibc
#endif

/// What the access log records of one request, copied out of the request (which is gone by
/// the time the line is written).
struct AccessLogEntry: Sendable {
    /// The peer's numeric address; nil for a Unix-socket peer.
    var remoteAddress: String?
    var method: String
    /// The request-target as sent, query included.
    var target: String
    var version: HTTPVersion
    var status: Int
    /// Body bytes of the response (head not counted), as Common Log Format counts them.
    var bodyBytes: UInt64
    /// When the request started, on the wall clock (CLOCK_REALTIME).
    var startTime: timespec
    /// Seconds from the start of the request to the end of its response.
    var duration: Double
}

/// The access log: one line per request on standard output (the diagnostic log has
/// standard error), so the two streams can be sent to different places.
enum AccessLog {
    /// The line for `entry`, without a newline:
    ///
    /// - text: Common Log Format,
    ///   `127.0.0.1 - - [23/Nov/2026:11:30:00 +0000] "GET / HTTP/1.1" 200 13`
    /// - json: `{"ts":"2026-11-23T11:30:00.123Z","remote_addr":"127.0.0.1","method":"GET",
    ///   "path":"/","http_version":"HTTP/1.1","status":200,"bytes":13,"duration_ms":0.123}`
    static func line(_ entry: AccessLogEntry, format: Configuration.LogFormat) -> String {
        switch format {
        case .text: return commonLogFormat(entry)
        case .json: return json(entry)
        }
    }

    /// Writes `line` and a newline to standard output with one write(2).
    static func write(_ line: String) {
        LineWriter.write(line, to: LineWriter.standardOutput)
    }

    /// Common Log Format, as Apache's `%h %l %u %t "%r" %>s %b`: no identity or user
    /// (`-`), the time in UTC, and `-` for a response without body bytes.
    static func commonLogFormat(_ entry: AccessLogEntry) -> String {
        var line = entry.remoteAddress ?? "-"
        line.append(" - - [")
        line.append(WallClock.commonLogFormat(entry.startTime))
        line.append("] \"")
        appendCLFEscaped(entry.method, to: &line)
        line.append(" ")
        appendCLFEscaped(entry.target, to: &line)
        line.append(" ")
        line.append(entry.version.description)
        line.append("\" ")
        line.append(String(entry.status))
        line.append(" ")
        line.append(entry.bodyBytes == 0 ? "-" : String(entry.bodyBytes))
        return line
    }

    static func json(_ entry: AccessLogEntry) -> String {
        var line = "{\"ts\":\""
        line.append(WallClock.iso8601(entry.startTime))
        line.append("\",\"remote_addr\":")
        if let remoteAddress = entry.remoteAddress {
            JSONText.appendString(remoteAddress, to: &line)
        } else {
            line.append("null")
        }
        line.append(",\"method\":")
        JSONText.appendString(entry.method, to: &line)
        line.append(",\"path\":")
        JSONText.appendString(entry.target, to: &line)
        line.append(",\"http_version\":\"")
        line.append(entry.version.description)
        line.append("\",\"status\":")
        line.append(String(entry.status))
        line.append(",\"bytes\":")
        line.append(String(entry.bodyBytes))
        line.append(",\"duration_ms\":")
        line.append(milliseconds(entry.duration))
        line.append("}")
        return line
    }

    /// Seconds as milliseconds with three decimals (microsecond resolution), `0.123`:
    /// formatted by hand because `String(describing: Double)` may choose an exponent.
    static func milliseconds(_ seconds: Double) -> String {
        let microseconds = seconds.isFinite && seconds > 0 ? UInt64((seconds * 1e6).rounded()) : 0
        var text = String(microseconds / 1000)
        text.append(".")
        WallClock.appendPadded(Int(microseconds % 1000), width: 3, to: &text)
        return text
    }

    /// Escapes the way Apache does inside the quoted request line: `"` and `\` with a
    /// backslash, control bytes and DEL as `\xHH`, so a hostile target cannot end the
    /// quotes or the line. The parser admits no such bytes today; this keeps the log safe
    /// if it ever does.
    private static func appendCLFEscaped(_ value: String, to line: inout String) {
        let unsafeByte: (UInt8) -> Bool = {
            $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\")
        }
        guard value.utf8.contains(where: unsafeByte) else {
            line.append(value)
            return
        }
        let hexDigits = Array("0123456789abcdef")
        for scalar in value.unicodeScalars {
            guard scalar.value < 0x80, unsafeByte(UInt8(scalar.value)) else {
                line.unicodeScalars.append(scalar)
                continue
            }
            let byte = UInt8(scalar.value)
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                line.append("\\")
                line.unicodeScalars.append(scalar)
            } else {
                line.append("\\x")
                line.append(hexDigits[Int(byte >> 4)])
                line.append(hexDigits[Int(byte & 0xF)])
            }
        }
    }
}
