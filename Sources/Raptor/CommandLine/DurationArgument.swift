import ArgumentParser

/// A duration as written on the command line: `30` (seconds), `30s`, `500ms`, `1.5s`,
/// `2m`, `1h`; units are case-insensitive. Resolution is a nanosecond (finer digits are
/// dropped).
struct DurationArgument: Sendable, Equatable, CustomStringConvertible, ExpressibleByArgument {
    var duration: Duration

    init(_ duration: Duration) {
        self.duration = duration
    }

    init?(argument: String) {
        guard let value = try? DurationArgument(parsing: argument) else { return nil }
        self = value
    }

    /// Reads a duration; the error says what is wrong and what would be right.
    init(parsing text: String) throws {
        let syntax = "expected seconds or a number with a unit, as 30, 30s, 500ms, 1.5s or 2m"
        guard let number = DecimalNumber(prefixOf: text) else {
            throw ArgumentValueError(description: syntax)
        }
        let unitText = text.dropFirst(number.length)
        guard let nanosecondsPerUnit = Self.nanoseconds(perUnit: unitText.lowercased()) else {
            throw ArgumentValueError(
                description:
                    "'\(unitText)' is not a duration unit; use ms, s, m or h"
                    + " (a bare number is seconds)"
            )
        }
        guard let nanoseconds = number.scaled(by: nanosecondsPerUnit),
            nanoseconds <= UInt64(Int64.max)
        else {
            throw ArgumentValueError(description: "too long; the longest duration is 292 years")
        }
        duration = .nanoseconds(Int64(nanoseconds))
    }

    private static func nanoseconds(perUnit unit: String) -> UInt64? {
        switch unit {
        case "ms": return 1_000_000
        case "", "s": return 1_000_000_000
        case "m": return 60_000_000_000
        case "h": return 3_600_000_000_000
        default: return nil
        }
    }

    /// An exact spelling that reads back to the same value: `30s`, `500ms`, `1.5s`. Whole
    /// seconds stay in seconds (`60s`, not `1m`), as the configuration documents them.
    var description: String {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = attoseconds / 1_000_000_000
        if nanoseconds == 0 { return "\(seconds)s" }
        if seconds == 0, nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
        // Seconds with as many decimals as needed, trailing zeros dropped.
        var decimals = String(nanoseconds)
        decimals = String(repeating: "0", count: 9 - decimals.count) + decimals
        while decimals.hasSuffix("0") { decimals.removeLast() }
        return "\(seconds).\(decimals)s"
    }

    var defaultValueDescription: String { description }
}
