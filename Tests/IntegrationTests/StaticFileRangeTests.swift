import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Range requests on `raptor-ev serve` (RFC 9110 section 14): curl resumes a download;
/// single, suffix and open ranges (206, Content-Range); several ranges as
/// multipart/byteranges, checked byte for byte; 416 with `bytes */LENGTH`; If-Range; HEAD;
/// and the range attack, which must not multiply the bytes sent. Each on a small file (kept
/// in memory) and a large one (sent with sendfile).
class StaticFileRangeTestCase: StaticSiteTestCase {
    static let small = noise(5_000, seed: 1)
    static let large = noise(3 << 20, seed: 2)

    func startRangeSite(_ flags: [String] = []) throws -> ServerProcess {
        try startStaticServer(directory: try makeSite(["small.bin": Self.small, "large.bin": Self.large]), flags)
    }

    func curlResumesADownload() throws {
        let server = try startRangeSite()
        let output = workDirectory.appendingPathComponent("download.bin")
        try Data(Self.large.prefix(1_234_567)).write(to: output)
        let result = try ExternalClient.curl(
            ["-sS", "-C", "-", "-o", output.path, "http://127.0.0.1:\(server.port)/large.bin"],
            outputDirectory: workDirectory)
        XCTAssertTrue(result.succeeded, "\(result)")
        XCTAssertEqual(try Data(contentsOf: output), Data(Self.large), "the resumed download is the file")
    }

    func singleSuffixAndOpenRangesGet206() throws {
        let server = try startRangeSite()
        for (path, content) in [("/small.bin", Self.small), ("/large.bin", Self.large)] {
            let length = content.count
            let cases: [(String, Range<Int>)] = [
                ("bytes=0-99", 0..<100), ("bytes=100-100", 100..<101), ("bytes=-500", (length - 500)..<length),
                ("bytes=4000-", 4000..<length), ("bytes=10-\(length * 2)", 10..<length),
                ("bytes=-\(length * 2)", 0..<length), ("BYTES=1-2", 1..<3),
            ]
            for (range, expected) in cases {
                let response = try fetch(server, path, ["Range: \(range)"])
                XCTAssertEqual(response.status, 206, "\(path) \(range)")
                XCTAssertEqual(
                    response.header("Content-Range"),
                    "bytes \(expected.lowerBound)-\(expected.upperBound - 1)/\(length)", "\(path) \(range)")
                XCTAssertEqual(response.body, Array(content[expected]), "\(path) \(range)")
                XCTAssertEqual(response.header("Accept-Ranges"), "bytes")
                XCTAssertNotNil(response.header("ETag"))
            }
            let whole = try fetch(server, path)
            XCTAssertEqual(whole.header("Accept-Ranges"), "bytes", "a 200 says ranges are supported")
        }
    }

    func severalRangesAreMultipartByteranges() throws {
        let server = try startRangeSite()
        for (path, content) in [("/small.bin", Self.small), ("/large.bin", Self.large)] {
            let length = content.count
            // Out of order on purpose: parts come sorted.
            let response = try fetch(server, path, ["Range: bytes=-100, 0-9, 1000-1999"])
            XCTAssertEqual(response.status, 206, path)
            XCTAssertNil(response.header("Content-Range"), "a multipart 206 has none of its own (15.3.7.2)")
            XCTAssertEqual(response.header("Content-Length"), String(response.body.count))
            guard let parts = multipartParts(response) else { continue }
            let expected = [0..<10, 1000..<2000, (length - 100)..<length]
            XCTAssertEqual(parts.count, expected.count, path)
            for (part, range) in zip(parts, expected) {
                XCTAssertEqual(part.fields["content-type"], "application/octet-stream")
                XCTAssertEqual(
                    part.fields["content-range"], "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(length)")
                XCTAssertEqual(part.body, Array(content[range]), "\(path) part \(range)")
            }
        }
    }

    /// Megabytes of parts to a client that reads slowly: the engine goes on from part to part
    /// whenever the socket takes more, without holding a thread.
    func largeMultipartReachesASlowReaderWhole() throws {
        let server = try startRangeSite()
        let client = try connect(server, timeout: 30, receiveBufferSize: 8192)
        let ranges = [0..<(1 << 20), (1 << 20) + 500..<(2 << 20), (2 << 20) + 100..<(3 << 20)]
        let spec = ranges.map { "\($0.lowerBound)-\($0.upperBound - 1)" }.joined(separator: ",")
        try client.send(Requests.get("/large.bin", "Range: bytes=\(spec)\r\n") + Requests.get("/small.bin"))
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 206)
        if let parts = multipartParts(response) {
            XCTAssertEqual(parts.map(\.body), ranges.map { Array(Self.large[$0]) })
        }
        XCTAssertEqual(try client.readResponse().body, Self.small, "the next request on the connection")
    }

    func unsatisfiableRangesGet416WithTheLength() throws {
        let server = try startRangeSite()
        for range in ["bytes=5000-", "bytes=5000-6000", "bytes=-0", "bytes=9000-,7000-8000"] {
            let response = try fetch(server, "/small.bin", ["Range: \(range)"])
            XCTAssertEqual(response.status, 416, range)
            XCTAssertEqual(response.header("Content-Range"), "bytes */5000", range)
        }
        // Not a byte range at all: ignored, the whole file.
        for range in ["items=0-1", "bytes=5-1", "bytes=x-y"] {
            let response = try fetch(server, "/small.bin", ["Range: \(range)"])
            XCTAssertEqual(response.status, 200, range)
            XCTAssertEqual(response.body, Self.small, range)
        }
    }

    func ifRangeSendsTheRangeOnlyForTheCurrentVersion() throws {
        let server = try startRangeSite()
        let etag = try XCTUnwrap(try fetch(server, "/large.bin").header("ETag"))
        let cases: [(String, Int)] = [
            (etag, 206), ("\"other\"", 200), ("W/\(etag)", 200), (Self.modifiedText, 206),
            ("Thu, 02 Jan 2020 03:04:06 GMT", 200), ("garbage", 200),
        ]
        for (condition, status) in cases {
            let response = try fetch(server, "/large.bin", ["Range: bytes=0-9", "If-Range: \(condition)"])
            XCTAssertEqual(response.status, status, "If-Range: \(condition)")
            XCTAssertEqual(response.body.count, status == 206 ? 10 : Self.large.count, "If-Range: \(condition)")
        }
    }

    func headWithRangeAnswersThe206Head() throws {
        let server = try startRangeSite()
        for path in ["/small.bin", "/large.bin"] {
            let client = try connect(server)
            try client.send(
                Requests.head(path, "Range: bytes=10-19\r\n") + Requests.get(path, "Range: bytes=10-19\r\n"))
            let head = try client.readResponse(to: "HEAD")
            let get = try client.readResponse()
            XCTAssertEqual(head.status, 206, path)
            XCTAssertEqual(head.header("Content-Range"), get.header("Content-Range"))
            XCTAssertEqual(head.header("Content-Length"), "10")
            XCTAssertEqual(get.body.count, 10, "nothing of the HEAD's body was sent")
        }
    }

    /// CVE-2011-3192: overlapping or many small ranges must not make one request cost many
    /// times the file. Overlaps are coalesced; past 100 ranges the whole file is sent once.
    func theRangeAttackDoesNotMultiplyTheBytesSent() throws {
        let server = try startRangeSite()
        let overlapping = "bytes=" + (0..<100).map { "\($0)-" }.joined(separator: ",")
        var response = try fetch(server, "/large.bin", ["Range: \(overlapping)"])
        XCTAssertEqual(response.status, 206)
        XCTAssertEqual(response.header("Content-Range"), "bytes 0-\(Self.large.count - 1)/\(Self.large.count)")
        XCTAssertEqual(response.body, Self.large, "one copy of the file, not a hundred")
        let tooMany = "bytes=" + (0..<200).map { "\($0 * 10)-\($0 * 10 + 5)" }.joined(separator: ",")
        response = try fetch(server, "/large.bin", ["Range: \(tooMany)"])
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body.count, Self.large.count)
        // Close small ranges merge into one part.
        response = try fetch(server, "/large.bin", ["Range: bytes=0-0,2-2,4-4,6-6"])
        XCTAssertEqual(response.status, 206)
        XCTAssertEqual(response.header("Content-Range"), "bytes 0-6/\(Self.large.count)")
    }
}

final class StaticFileRangePoolTests: StaticFileRangeTestCase {
    override class var threads: Int { 5 }
    func testCurlResumesADownload() throws { try curlResumesADownload() }
    func testSingleSuffixAndOpenRanges() throws { try singleSuffixAndOpenRangesGet206() }
    func testMultipartByteranges() throws { try severalRangesAreMultipartByteranges() }
    func testLargeMultipartToASlowReader() throws { try largeMultipartReachesASlowReaderWhole() }
    func testUnsatisfiableRanges() throws { try unsatisfiableRangesGet416WithTheLength() }
    func testIfRange() throws { try ifRangeSendsTheRangeOnlyForTheCurrentVersion() }
    func testHeadWithRange() throws { try headWithRangeAnswersThe206Head() }
    func testRangeAttack() throws { try theRangeAttackDoesNotMultiplyTheBytesSent() }
}

final class StaticFileRangeInlineTests: StaticFileRangeTestCase {
    override class var threads: Int { 0 }
    func testCurlResumesADownload() throws { try curlResumesADownload() }
    func testSingleSuffixAndOpenRanges() throws { try singleSuffixAndOpenRangesGet206() }
    func testMultipartByteranges() throws { try severalRangesAreMultipartByteranges() }
    func testLargeMultipartToASlowReader() throws { try largeMultipartReachesASlowReaderWhole() }
    func testUnsatisfiableRanges() throws { try unsatisfiableRangesGet416WithTheLength() }
    func testIfRange() throws { try ifRangeSendsTheRangeOnlyForTheCurrentVersion() }
    func testHeadWithRange() throws { try headWithRangeAnswersThe206Head() }
    func testRangeAttack() throws { try theRangeAttackDoesNotMultiplyTheBytesSent() }
}
