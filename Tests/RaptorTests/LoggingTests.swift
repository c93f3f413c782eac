import Dispatch
import Logging
import XCTest

@testable import Raptor

final class LoggingTests: XCTestCase {
    /// 2026-11-23T11:30:00.123Z
    let time = timespec(tv_sec: 1_795_433_400, tv_nsec: 123_456_789)

    // MARK: Timestamps

    func testTimestamps() {
        XCTAssertEqual(WallClock.iso8601(time), "2026-11-23T11:30:00.123Z")
        XCTAssertEqual(WallClock.commonLogFormat(time), "23/Nov/2026:11:30:00 +0000")
        let early = timespec(tv_sec: 1_767_582_245, tv_nsec: 7_000_000)
        XCTAssertEqual(WallClock.iso8601(early), "2026-01-05T03:04:05.007Z")
        XCTAssertEqual(WallClock.commonLogFormat(early), "05/Jan/2026:03:04:05 +0000")
    }

    // MARK: JSON strings

    func testJSONStringsEscapeQuotesBackslashesAndControlCharacters() {
        XCTAssertEqual(JSONText.string("plain"), #""plain""#)
        XCTAssertEqual(JSONText.string(#"say "hi" \ bye"#), #""say \"hi\" \\ bye""#)
        XCTAssertEqual(JSONText.string("a\nb\rc\td\u{8}e\u{C}f"), #""a\nb\rc\td\be\ff""#)
        XCTAssertEqual(JSONText.string("\u{0}\u{1}\u{1F}"), #""\u0000\u0001\u001f""#)
        // Non-ASCII text and DEL are valid in a JSON string as they are.
        XCTAssertEqual(JSONText.string("é – 日本 🦖 \u{7F}"), "\"é – 日本 🦖 \u{7F}\"")
        XCTAssertEqual(JSONText.string(""), #""""#)
    }

    func testEveryControlCharacterIsEscaped() {
        for value in 0..<0x20 {
            let escaped = JSONText.string(String(UnicodeScalar(UInt8(value))))
            XCTAssertFalse(escaped.utf8.contains { $0 < 0x20 }, "U+\(value)")
            XCTAssertTrue(escaped.hasPrefix(#""\"#), escaped)
        }
    }

    // MARK: Log lines

    func testTextLine() {
        let line = LogLine.render(
            level: .info, message: "listening", metadata: ["url": "tcp://0.0.0.0:9292"], error: nil,
            time: time, format: .text)
        XCTAssertEqual(line, "2026-11-23T11:30:00.123Z info listening url=tcp://0.0.0.0:9292")
    }

    func testTextLineQuotesValuesThatWouldNotReadBackAndStaysOneLine() {
        struct Failure: Error, CustomStringConvertible { var description: String { "disk full" } }
        let line = LogLine.render(
            level: .warning, message: "two\nlines",
            metadata: ["b": "has space", "a": "", "c": "x=\"y\"", "d": "ok"],
            error: Failure(), time: time, format: .text)
        XCTAssertEqual(
            line,
            #"2026-11-23T11:30:00.123Z warning two\nlines a="" b="has space" c="x=\"y\"" d=ok error="disk full""#
        )
    }

    func testJSONLine() {
        let line = LogLine.render(
            level: .info, message: "listening", metadata: ["url": "tcp://0.0.0.0:9292"], error: nil,
            time: time, format: .json)
        XCTAssertEqual(
            line,
            #"{"ts":"2026-11-23T11:30:00.123Z","level":"info","message":"listening","url":"tcp://0.0.0.0:9292"}"#
        )
    }

    func testJSONLineEscapesAndTypesMetadata() {
        struct Failure: Error, CustomStringConvertible {
            var description: String { "bad \"thing\"" }
        }
        let metadata: Logger.Metadata = [
            "path": "/a\"b\\c\n",
            "count": .stringConvertible(3),
            "text": "3",
            "ratio": .stringConvertible(0.5),
            "ok": .stringConvertible(true),
            "list": ["x", .stringConvertible(1)],
            "nested": ["k": "v", "a": .stringConvertible(false)],
            "message": "shadow",
            "level": "shadow too",
        ]
        let line = LogLine.render(
            level: .error, message: "it's \"bad\"", metadata: metadata, error: Failure(),
            time: time,
            format: .json)
        XCTAssertEqual(
            line,
            #"{"ts":"2026-11-23T11:30:00.123Z","level":"error","message":"it's \"bad\"","#
                + #""error":"bad \"thing\"","count":3,"metadata.level":"shadow too","list":["x",1],"#
                + #""metadata.message":"shadow","nested":{"a":false,"k":"v"},"ok":true,"#
                + #""path":"/a\"b\\c\n","ratio":0.5,"text":"3"}"#)
    }

    func testMetadataNamedErrorIsKeptUnlessTheEventCarriesAnError() {
        struct Failure: Error {}
        let plain = LogLine.render(
            level: .error, message: "m", metadata: ["error": "timeout"], error: nil, time: time,
            format: .json)
        XCTAssertTrue(plain.hasSuffix(#""message":"m","error":"timeout"}"#), plain)
        let both = LogLine.render(
            level: .error, message: "m", metadata: ["error": "timeout"], error: Failure(),
            time: time, format: .json)
        XCTAssertTrue(both.hasSuffix(#""error":"Failure()","metadata.error":"timeout"}"#), both)
    }

    // MARK: The handler

    func testHandlerWritesOneLineWithMergedMetadata() throws {
        let (readEnd, writeEnd) = try makePipe()
        defer { close(readEnd) }
        var handler = RaptorLogHandler(
            label: "test", format: .json, logLevel: .info,
            metadataProvider: Logger.MetadataProvider { ["provided": "p", "shared": "provider"] },
            fileDescriptor: writeEnd)
        handler[metadataKey: "worker"] = "3"
        handler[metadataKey: "shared"] = "handler"
        var logger = Logger(label: "test") { _ in handler }
        logger.logLevel = .info
        logger.debug("not written")
        logger.info("hello", metadata: ["shared": "event"])
        close(writeEnd)

        let output = readAll(readEnd)
        XCTAssertTrue(output.hasSuffix("}\n"), output)
        XCTAssertEqual(output.split(separator: "\n").count, 1, output)
        XCTAssertTrue(
            output.contains(#""message":"hello","provided":"p","shared":"event","worker":"3"}"#),
            output)
    }

    /// Lines from many threads arrive whole: one write(2) each.
    func testLinesFromManyThreadsDoNotInterleave() throws {
        // O_APPEND, as a log file would be opened: each write lands whole at the end.
        let path = "/tmp/raptor-log-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_APPEND, 0o600)
        XCTAssertGreaterThanOrEqual(descriptor, 0)
        unlink(path)
        defer { close(descriptor) }

        let handler = RaptorLogHandler(
            label: "test", format: .json, logLevel: .info, metadataProvider: nil,
            fileDescriptor: descriptor)
        let padding = String(repeating: "x", count: 500)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            let logger = Logger(label: "test") { _ in handler }
            for index in 0..<200 {
                logger.info(
                    "line",
                    metadata: ["thread": "\(thread)", "index": "\(index)", "padding": "\(padding)"])
            }
        }

        lseek(descriptor, 0, SEEK_SET)
        let lines = readAll(descriptor).split(separator: "\n")
        XCTAssertEqual(lines.count, 1600)
        for line in lines {
            XCTAssertTrue(line.hasPrefix(#"{"ts":""#) && line.hasSuffix("\"}"), String(line))
        }
    }

    func testExplicitLogFormatWins() {
        var configuration = Configuration()
        configuration.logFormat = .json
        XCTAssertEqual(configuration.effectiveLogFormat, .json)
        configuration.logFormat = .text
        XCTAssertEqual(configuration.effectiveLogFormat, .text)
    }

    func testAccessLogFollowsTheLogFormat() {
        var configuration = Configuration()
        XCTAssertNil(configuration.accessLogFormat, "off unless asked for")
        configuration.accessLog = true
        XCTAssertEqual(configuration.accessLogFormat, configuration.effectiveLogFormat)
        for format in [Configuration.LogFormat.text, .json] {
            configuration.logFormat = format
            XCTAssertEqual(configuration.accessLogFormat, format)
        }
    }

    // MARK: The access log

    func entry(
        remoteAddress: String? = "127.0.0.1", target: String = "/", bodyBytes: UInt64 = 13,
        duration: Double = 0.000123
    ) -> AccessLogEntry {
        AccessLogEntry(
            remoteAddress: remoteAddress, method: "GET", target: target, version: .http1_1,
            status: 200,
            bodyBytes: bodyBytes, startTime: time, duration: duration)
    }

    func testAccessLogCommonLogFormat() {
        XCTAssertEqual(
            AccessLog.line(entry(), format: .text),
            #"127.0.0.1 - - [23/Nov/2026:11:30:00 +0000] "GET / HTTP/1.1" 200 13"#)
        // A Unix-socket peer has no address, and CLF writes an empty body as "-".
        XCTAssertEqual(
            AccessLog.line(entry(remoteAddress: nil, bodyBytes: 0), format: .text),
            #"- - - [23/Nov/2026:11:30:00 +0000] "GET / HTTP/1.1" 200 -"#)
    }

    func testAccessLogCommonLogFormatEscapesTheRequestLine() {
        XCTAssertEqual(
            AccessLog.line(entry(target: "/a\"b\\c\u{1}d\u{7F}é"), format: .text),
            #"127.0.0.1 - - [23/Nov/2026:11:30:00 +0000] "GET /a\"b\\c\x01d\x7fé HTTP/1.1" 200 13"#)
    }

    func testAccessLogJSON() {
        XCTAssertEqual(
            AccessLog.line(
                entry(remoteAddress: "2001:db8::1", target: "/q?a=\"1\""), format: .json),
            #"{"ts":"2026-11-23T11:30:00.123Z","remote_addr":"2001:db8::1","method":"GET","#
                + #""path":"/q?a=\"1\"","http_version":"HTTP/1.1","status":200,"bytes":13,"duration_ms":0.123}"#
        )
        XCTAssertEqual(
            AccessLog.line(entry(remoteAddress: nil, bodyBytes: 0, duration: 1.5), format: .json),
            #"{"ts":"2026-11-23T11:30:00.123Z","remote_addr":null,"method":"GET","path":"/","#
                + #""http_version":"HTTP/1.1","status":200,"bytes":0,"duration_ms":1500.000}"#)
    }

    func testDurationMilliseconds() {
        XCTAssertEqual(AccessLog.milliseconds(0), "0.000")
        XCTAssertEqual(AccessLog.milliseconds(0.000_000_4), "0.000")
        XCTAssertEqual(AccessLog.milliseconds(0.000_0005), "0.001")
        XCTAssertEqual(AccessLog.milliseconds(0.012_345_6), "12.346")
        XCTAssertEqual(AccessLog.milliseconds(65), "65000.000")
        XCTAssertEqual(AccessLog.milliseconds(-1), "0.000")
        XCTAssertEqual(AccessLog.milliseconds(.nan), "0.000")
    }

    func testLineWriterAppendsOneNewline() throws {
        let (readEnd, writeEnd) = try makePipe()
        defer { close(readEnd) }
        LineWriter.write("first", to: writeEnd)
        LineWriter.write("", to: writeEnd)
        close(writeEnd)
        XCTAssertEqual(readAll(readEnd), "first\n\n")
    }

    // MARK: Helpers

    private func makePipe() throws -> (Int32, Int32) {
        var descriptors: [Int32] = [0, 0]
        guard pipe(&descriptors) == 0 else { throw RaptorError.system("pipe", errno) }
        return (descriptors[0], descriptors[1])
    }

    private func readAll(_ descriptor: Int32) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
