#if canImport(Glibc)
    import Glibc
#endif

/// Wall-clock timestamps for log lines, in UTC, without Foundation: clock_gettime and
/// gmtime_r are enough, and Foundation would cost every process that links the library
/// its start-up time and memory for two date formats.
enum WallClock {
    /// The current wall-clock time (CLOCK_REALTIME).
    static func now() -> timespec {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return time
    }

    /// `2026-11-23T11:30:00.123Z`: ISO 8601 / RFC 3339 in UTC, to the millisecond.
    static func iso8601(_ time: timespec) -> String {
        let fields = brokenDown(time)
        var text = ""
        text.reserveCapacity(24)
        appendPadded(Int(fields.tm_year) + 1900, width: 4, to: &text)
        text.append("-")
        appendPadded(Int(fields.tm_mon) + 1, width: 2, to: &text)
        text.append("-")
        appendPadded(Int(fields.tm_mday), width: 2, to: &text)
        text.append("T")
        appendPadded(Int(fields.tm_hour), width: 2, to: &text)
        text.append(":")
        appendPadded(Int(fields.tm_min), width: 2, to: &text)
        text.append(":")
        appendPadded(Int(fields.tm_sec), width: 2, to: &text)
        text.append(".")
        appendPadded(Int(time.tv_nsec) / 1_000_000, width: 3, to: &text)
        text.append("Z")
        return text
    }

    /// `23/Nov/2026:11:30:00 +0000`: the timestamp of the Common Log Format, in UTC.
    static func commonLogFormat(_ time: timespec) -> String {
        let fields = brokenDown(time)
        var text = ""
        text.reserveCapacity(26)
        appendPadded(Int(fields.tm_mday), width: 2, to: &text)
        text.append("/")
        text.append(monthAbbreviations[Int(fields.tm_mon)])
        text.append("/")
        appendPadded(Int(fields.tm_year) + 1900, width: 4, to: &text)
        text.append(":")
        appendPadded(Int(fields.tm_hour), width: 2, to: &text)
        text.append(":")
        appendPadded(Int(fields.tm_min), width: 2, to: &text)
        text.append(":")
        appendPadded(Int(fields.tm_sec), width: 2, to: &text)
        text.append(" +0000")
        return text
    }

    // English abbreviations whatever the locale: CLF readers expect exactly these.
    private static let monthAbbreviations = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]

    private static func brokenDown(_ time: timespec) -> tm {
        var seconds = time.tv_sec
        var fields = tm()
        gmtime_r(&seconds, &fields)
        return fields
    }

    /// Appends a non-negative number with leading zeros up to `width` digits.
    static func appendPadded(_ value: Int, width: Int, to text: inout String) {
        let digits = String(value)
        if digits.count < width {
            text.append(String(repeating: "0", count: width - digits.count))
        }
        text.append(digits)
    }
}
