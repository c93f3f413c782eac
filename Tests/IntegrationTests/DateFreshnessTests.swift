import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The Date field is the current second (RFC 9110 6.6.1), on the loop thread (inline) and
/// on app threads (pool), including the first milliseconds of a second, where a cached or
/// coarse clock still shows the second before; and never earlier than the Last-Modified of
/// a file written just before the request (RFC 9110 8.8.2.1).
@Suite(.exclusive) final class DateFreshnessTests: ServerSuite {
    /// Unix time from the precise wall clock, as an outside observer reads it.
    static func wallClock() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Sleeps until `seconds` before the next whole second of the wall clock.
    static func sleepUntilBeforeNextSecond(by seconds: Double) {
        let now = wallClock()
        var wait = now.rounded(.down) + 1 - seconds - now
        if wait < 0 { wait += 1 }
        usleep(UInt32(wait * 1_000_000))
    }

    /// The Date of one response as unix seconds.
    func dateSeconds(_ response: HTTPResponseMessage, sourceLocation: SourceLocation = #_sourceLocation) -> Int? {
        guard let value = response.header("Date"), let date = HTTPDate.parse(value) else {
            Issue.record("no IMF-fixdate Date in \(response.rawHead)", sourceLocation: sourceLocation)
            return nil
        }
        return Int(date.timeIntervalSince1970)
    }

    @Test(arguments: ServerMode.all)
    func dateIsTheCurrentSecond(_ mode: ServerMode) throws {
        let server = try startTestApp(mode)
        let client = try connect(server)
        var samples = 0
        var stale: [String] = []
        func sample() throws {
            let sent = Self.wallClock()
            try client.send(Requests.get("/"))
            let response = try client.readResponse()
            let received = Self.wallClock()
            samples += 1
            guard let date = dateSeconds(response) else { return }
            // The server read its clock after `sent` and before `received`.
            if date < Int(sent.rounded(.down)) || date > Int(received.rounded(.down)) {
                stale.append(
                    "Date \(response.header("Date") ?? "") (\(date)) for a request sent at"
                        + " \(String(format: "%.4f", sent)), answered by \(String(format: "%.4f", received))")
            }
        }
        // Three seconds: back-to-back requests from 20 ms before a second begins to 40 ms
        // after (where a clock that lags shows the second before), and one mid-second.
        for _ in 0..<3 {
            Self.sleepUntilBeforeNextSecond(by: 0.02)
            let end = Self.wallClock() + 0.06
            repeat { try sample() } while Self.wallClock() < end
            Self.sleepUntilBeforeNextSecond(by: 0.5)
            try sample()
        }
        #expect(samples > 6)
        #expect(
            stale.isEmpty,
            Comment(
                rawValue:
                    "\(stale.count) of \(samples) responses not dated the current second:\n"
                    + stale.prefix(5).joined(separator: "\n")))
    }

    @Test(arguments: ServerMode.all)
    func dateIsNeverBeforeTheLastModifiedOfAFileJustWritten(_ mode: ServerMode) throws {
        let root = try makeTemporaryDirectory()
        let server = try startStaticServer(mode, directory: root.path)
        let client = try connect(server)
        let path = root.appendingPathComponent("now.txt").path
        var failures: [String] = []
        // Ten files, written at points 100 ms apart in one second, each fetched right away.
        for attempt in 0..<10 {
            Self.sleepUntilBeforeNextSecond(by: Double(9 - attempt) * 0.1 + 0.005)
            try "written at \(Self.wallClock())\n".write(toFile: path, atomically: false, encoding: .utf8)
            try client.send(Requests.get("/now.txt"))
            let response = try client.readResponse()
            #expect(response.status == 200, "\(response.statusLine)")
            guard let date = response.header("Date").flatMap(HTTPDate.parse),
                let modified = response.header("Last-Modified").flatMap(HTTPDate.parse)
            else {
                Issue.record("no Date or Last-Modified: \(response.rawHead)")
                return
            }
            if modified > date {
                failures.append(
                    "Last-Modified \(response.header("Last-Modified") ?? "") is later than Date \(response.header("Date") ?? "")"
                )
            }
        }
        #expect(failures.isEmpty, Comment(rawValue: failures.joined(separator: "\n")))
    }
}
