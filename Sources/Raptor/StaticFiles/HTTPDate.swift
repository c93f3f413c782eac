#if canImport(Glibc)
    import Glibc
#endif

/// HTTP-date (RFC 9110 section 5.6.7): generated as IMF-fixdate, parsed in all three forms.
///
/// Timestamps are seconds since the Unix epoch, UTC. The calendar arithmetic is done here
/// (Howard Hinnant's days-from-civil algorithms) rather than with gmtime/strftime/strptime:
/// those depend on the time zone and the locale (`%a`, `%b`), which a server must not let
/// leak into a protocol element, and they are slower than a few integer divisions.
public enum HTTPDate {
    /// Formats a timestamp as IMF-fixdate, as in `Sun, 06 Nov 1994 08:49:37 GMT`.
    /// Times outside the years 0000...9999, which the format cannot carry, are clamped.
    public static func format(_ seconds: Int) -> String {
        let clamped = min(max(seconds, earliest), latest)
        let days = floorDivide(clamped, 86_400)
        let secondOfDay = clamped - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        // 1970-01-01 was a Thursday, index 4 counting from Sunday.
        let weekday = (days % 7 + 7 + 4) % 7
        let hour = secondOfDay / 3600
        let minute = secondOfDay / 60 % 60
        let second = secondOfDay % 60
        return String(unsafeUninitializedCapacity: 29) { output in
            // "Sun, 06 Nov 1994 08:49:37 GMT": the names first, then the digits in place.
            imfTemplate.withUTF8Buffer { _ = output.initialize(fromContentsOf: $0) }
            dayNamesPacked.withUTF8Buffer { names in
                for offset in 0..<3 { output[offset] = names[weekday * 3 + offset] }
            }
            monthNamesPacked.withUTF8Buffer { names in
                for offset in 0..<3 { output[8 + offset] = names[(month - 1) * 3 + offset] }
            }
            func put(_ value: Int, at position: Int, digits: Int) {
                var value = value
                for offset in (0..<digits).reversed() {
                    output[position + offset] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10)
                    value /= 10
                }
            }
            put(day, at: 5, digits: 2)
            put(year, at: 12, digits: 4)
            put(hour, at: 17, digits: 2)
            put(minute, at: 20, digits: 2)
            put(second, at: 23, digits: 2)
            return 29
        }
    }

    /// Parses an HTTP-date: IMF-fixdate, or the obsolete RFC 850 and asctime forms that
    /// RFC 9110 says recipients should still accept. Returns nil for anything else,
    /// including a date that does not exist (`31 Feb`). The weekday must be a day name but
    /// is not checked against the date (it carries no information; senders get it wrong).
    ///
    /// `now` only serves RFC 850's two-digit years: a year that would be more than 50 years
    /// in the future is read as the last one in the past with those digits.
    public static func parse(_ text: String, now: Int = Int(time(nil))) -> Int? {
        var text = text
        return text.withUTF8 { bytes in
            var scanner = Scanner(bytes: bytes)
            return scanner.httpDate(now: now)
        }
    }

    // The range IMF-fixdate's four-digit year can express.
    static let earliest = daysFromCivil(year: 0, month: 1, day: 1) * 86_400
    static let latest = daysFromCivil(year: 10_000, month: 1, day: 1) * 86_400 - 1

    static let imfTemplate: StaticString = "Sun, 00 Jan 0000 00:00:00 GMT"
    static let dayNamesPacked: StaticString = "SunMonTueWedThuFriSat"
    static let monthNamesPacked: StaticString = "JanFebMarAprMayJunJulAugSepOctNovDec"
    static let shortDayNames: [StaticString] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let longDayNames: [StaticString] = [
        "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
    ]
    static let monthNames: [StaticString] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]

    static func floorDivide(_ value: Int, _ divisor: Int) -> Int {
        value >= 0 ? value / divisor : (value - divisor + 1) / divisor
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let year = month <= 2 ? year - 1 : year
        let era = floorDivide(year, 400)
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day counted from 1970-01-01.
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = floorDivide(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// A cursor over the field value, with the grammar of RFC 9110 section 5.6.7.
    struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        mutating func httpDate(now: Int) -> Int? {
            // The forms differ from the fourth byte on: "Sun," "Sun " "Sunday,".
            guard bytes.count > 3 else { return nil }
            switch bytes[3] {
            case UInt8(ascii: ","): return imfFixdate()
            case UInt8(ascii: " "): return asctime()
            default: return rfc850(now: now)
            }
        }

        /// `Sun, 06 Nov 1994 08:49:37 GMT`
        mutating func imfFixdate() -> Int? {
            guard name(in: shortDayNames) != nil, literal(", "),
                let day = digits(2), literal(" "),
                let month = name(in: monthNames), literal(" "),
                let year = digits(4), literal(" "),
                let time = timeOfDay(), literal(" GMT"), index == bytes.count
            else { return nil }
            return timestamp(year: year, month: month + 1, day: day, secondOfDay: time)
        }

        /// `Sunday, 06-Nov-94 08:49:37 GMT`
        mutating func rfc850(now: Int) -> Int? {
            guard name(in: longDayNames) != nil, literal(", "),
                let day = digits(2), literal("-"),
                let month = name(in: monthNames), literal("-"),
                let shortYear = digits(2), literal(" "),
                let time = timeOfDay(), literal(" GMT"), index == bytes.count
            else { return nil }
            let thisYear = civil(fromDays: floorDivide(now, 86_400)).year
            var year = thisYear - thisYear % 100 + shortYear
            if year > thisYear + 50 { year -= 100 } else if year + 100 <= thisYear + 50 { year += 100 }
            return timestamp(year: year, month: month + 1, day: day, secondOfDay: time)
        }

        /// `Sun Nov  6 08:49:37 1994`
        mutating func asctime() -> Int? {
            guard name(in: shortDayNames) != nil, literal(" "),
                let month = name(in: monthNames), literal(" ")
            else { return nil }
            let day: Int
            if literal(" ") {
                guard let digit = digits(1) else { return nil }
                day = digit
            } else {
                guard let twoDigits = digits(2) else { return nil }
                day = twoDigits
            }
            guard literal(" "), let time = timeOfDay(), literal(" "),
                let year = digits(4), index == bytes.count
            else { return nil }
            return timestamp(year: year, month: month + 1, day: day, secondOfDay: time)
        }

        /// `08:49:37`, as seconds since midnight. A second of 60 (a leap second) is allowed
        /// by the grammar and counts as the first second of the next minute.
        mutating func timeOfDay() -> Int? {
            guard let hour = digits(2), hour < 24, literal(":"),
                let minute = digits(2), minute < 60, literal(":"),
                let second = digits(2), second <= 60
            else { return nil }
            return hour * 3600 + minute * 60 + second
        }

        func timestamp(year: Int, month: Int, day: Int, secondOfDay: Int) -> Int? {
            guard day >= 1, day <= daysInMonth(year: year, month: month) else { return nil }
            return daysFromCivil(year: year, month: month, day: day) * 86_400 + secondOfDay
        }

        /// Exactly `count` ASCII digits.
        mutating func digits(_ count: Int) -> Int? {
            guard bytes.count - index >= count else { return nil }
            var value = 0
            for _ in 0..<count {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int(digit)
                index += 1
            }
            return value
        }

        /// The index of the name that comes next (names are case-sensitive in the grammar).
        mutating func name(in names: [StaticString]) -> Int? {
            for (position, name) in names.enumerated() where literal(name) {
                return position
            }
            return nil
        }

        /// Consumes `text` when it comes next.
        mutating func literal(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            let matches = text.withUTF8Buffer { wanted in
                for offset in 0..<count where bytes[index + offset] != wanted[offset] {
                    return false
                }
                return true
            }
            if matches { index += count }
            return matches
        }
    }
}
