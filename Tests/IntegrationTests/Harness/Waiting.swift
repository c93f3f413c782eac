import Foundation

/// A point in time after which a wait gives up. Every wait in these tests has one.
struct Deadline {
    let end: ContinuousClock.Instant

    init(seconds: Double) {
        end = ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
    }

    var hasPassed: Bool { ContinuousClock.now >= end }

    /// Seconds left, never negative.
    var remaining: Double {
        let left = ContinuousClock.now.duration(to: end)
        return max(0, left.secondsValue)
    }

    /// Milliseconds left, for poll(2); never negative.
    var remainingMilliseconds: Int32 {
        Int32(min(Double(Int32.max), (remaining * 1000).rounded(.up)))
    }
}

extension Duration {
    var secondsValue: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}

/// Polls `condition` every `interval` seconds until it holds or `timeout` seconds pass.
/// Returns whether it held. Never sleeps longer than the deadline allows.
@discardableResult
func waitUntil(timeout: Double, interval: Double = 0.01, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Deadline(seconds: timeout)
    while true {
        if try condition() { return true }
        if deadline.hasPassed { return false }
        let pause = min(interval, deadline.remaining)
        usleep(UInt32(max(pause, 0.001) * 1_000_000))
    }
}

/// Seconds taken by `body`, measured on the monotonic clock.
func measureSeconds<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let value = try body()
    return (value, start.duration(to: ContinuousClock.now).secondsValue)
}

/// IMF-fixdate (RFC 9110 section 5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
enum HTTPDate {
    static func parse(_ text: String) -> Date? {
        formatter().date(from: text)
    }

    static func format(_ date: Date) -> String {
        formatter().string(from: date)
    }

    private static func formatter() -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter
    }
}

/// Request text helpers: every HTTP/1.1 request here carries a Host field unless a test
/// is about its absence.
enum Requests {
    static func get(_ target: String, _ fields: String = "", version: String = "HTTP/1.1") -> String {
        let host = version == "HTTP/1.1" ? "Host: localhost\r\n" : ""
        return "GET \(target) \(version)\r\n\(host)\(fields)\r\n"
    }

    static func head(_ target: String, _ fields: String = "") -> String {
        "HEAD \(target) HTTP/1.1\r\nHost: localhost\r\n\(fields)\r\n"
    }

    static func post(_ target: String, body: String, _ fields: String = "") -> String {
        "POST \(target) HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.utf8.count)\r\n\(fields)\r\n\(body)"
    }
}
