import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// One log event rendered as one line, in either format:
///
///     2026-11-23T11:30:00.123Z info listening url=tcp://0.0.0.0:9292
///     {"ts":"2026-11-23T11:30:00.123Z","level":"info","message":"listening","url":"tcp://0.0.0.0:9292"}
///
/// Metadata keys are sorted so the same event always gives the same line.
enum LogLine {
    /// Keys of the JSON object that metadata must not shadow; a metadata key equal to one
    /// of them is written as `metadata.KEY` (duplicate keys make JSON readers disagree).
    /// `error` is taken only when the event carries an error.
    static let reservedKeys: Set<String> = ["ts", "level", "message"]

    static func render(
        level: Logger.Level, message: String, metadata: Logger.Metadata,
        error: (any Error)?, time: timespec, format: Configuration.LogFormat
    ) -> String {
        switch format {
        case .text:
            return text(
                level: level, message: message, metadata: metadata, error: error, time: time)
        case .json:
            return json(
                level: level, message: message, metadata: metadata, error: error, time: time)
        }
    }

    // MARK: Text: timestamp, level, message, then key=value pairs (logfmt-style quoting)

    static func text(
        level: Logger.Level, message: String, metadata: Logger.Metadata,
        error: (any Error)?, time: timespec
    ) -> String {
        var line = WallClock.iso8601(time)
        line.append(" ")
        line.append(level.rawValue)
        line.append(" ")
        // A message with a newline would pass for two events.
        JSONText.appendEscaped(message, to: &line, quotesAndBackslashes: false)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            appendTextPair(key: key, value: textValue(value), to: &line)
        }
        if let error {
            appendTextPair(key: "error", value: String(describing: error), to: &line)
        }
        return line
    }

    private static func appendTextPair(key: String, value: String, to line: inout String) {
        line.append(" ")
        JSONText.appendEscaped(key, to: &line, quotesAndBackslashes: false)
        line.append("=")
        if needsQuotes(value) {
            JSONText.appendString(value, to: &line)
        } else {
            line.append(value)
        }
    }

    private static func textValue(_ value: Logger.MetadataValue) -> String {
        if case .string(let string) = value { return string }
        return value.description
    }

    /// A value is quoted when it is empty or would not read back as one `key=value` pair:
    /// it holds a space, a control character, `=` or `"`.
    static func needsQuotes(_ value: String) -> Bool {
        value.isEmpty
            || value.utf8.contains {
                $0 <= 0x20 || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\"")
            }
    }

    // MARK: JSON: one object per line, metadata as top-level keys

    static func json(
        level: Logger.Level, message: String, metadata: Logger.Metadata,
        error: (any Error)?, time: timespec
    ) -> String {
        var line = "{\"ts\":\""
        line.append(WallClock.iso8601(time))
        line.append("\",\"level\":\"")
        line.append(level.rawValue)
        line.append("\",\"message\":")
        JSONText.appendString(message, to: &line)
        if let error {
            line.append(",\"error\":")
            JSONText.appendString(String(describing: error), to: &line)
        }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            let isTaken = reservedKeys.contains(key) || (key == "error" && error != nil)
            line.append(",")
            JSONText.appendString(isTaken ? "metadata." + key : key, to: &line)
            line.append(":")
            appendJSONValue(value, to: &line)
        }
        line.append("}")
        return line
    }

    /// Strings stay strings; integers, booleans and finite floating-point numbers logged as
    /// values (`"\(count)"` is a string, `.stringConvertible(count)` a number) become JSON
    /// numbers and booleans; arrays and dictionaries nest.
    static func appendJSONValue(_ value: Logger.MetadataValue, to line: inout String) {
        switch value {
        case .string(let string):
            JSONText.appendString(string, to: &line)
        case .stringConvertible(let convertible):
            switch convertible {
            case let flag as Bool:
                line.append(flag ? "true" : "false")
            case let integer as any BinaryInteger:
                line.append(String(describing: integer))
            case let number as Double where number.isFinite:
                line.append(String(describing: number))
            case let number as Float where number.isFinite:
                line.append(String(describing: number))
            default:
                JSONText.appendString(convertible.description, to: &line)
            }
        case .array(let values):
            line.append("[")
            for (index, element) in values.enumerated() {
                if index > 0 { line.append(",") }
                appendJSONValue(element, to: &line)
            }
            line.append("]")
        case .dictionary(let dictionary):
            line.append("{")
            for (index, (key, element)) in dictionary.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { line.append(",") }
                JSONText.appendString(key, to: &line)
                line.append(":")
                appendJSONValue(element, to: &line)
            }
            line.append("}")
        }
    }
}
