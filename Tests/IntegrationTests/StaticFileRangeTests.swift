import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Range requests on `raptor-ev serve` (RFC 9110 section 14): curl resumes a download;
/// single, suffix and open ranges (206, Content-Range); several ranges as
/// multipart/byteranges, checked byte for byte; 416 with `bytes */LENGTH`; If-Range; HEAD;
/// and the range attack, which must not multiply the bytes sent. Each on a small file (kept
/// in memory) and a large one (sent with sendfile).
@Suite(.concurrent) final class StaticFileRangeTests: StaticSiteSuite {
    static let small = noise(5_000, seed: 1)
    static let large = noise(3 << 20, seed: 2)

    func startRangeSite(_ mode: ServerMode, _ flags: [String] = []) throws -> ServerProcess {
        try startStaticServer(mode, directory: try makeSite(["small.bin": Self.small, "large.bin": Self.large]), flags)
    }

    @Test(arguments: ServerMode.all)
    func curlResumesADownload(_ mode: ServerMode) throws {
        let server = try startRangeSite(mode)
        let output = workDirectory.appendingPathComponent("download.bin")
        try Data(Self.large.prefix(1_234_567)).write(to: output)
        let result = try curl(server, "/large.bin", ["-sS", "-C", "-", "-o", output.path])
        #expect(result.succeeded, "\(result)")
        try expectEqual(Data(contentsOf: output), Data(Self.large), "the resumed download is the file")
    }

    @Test(arguments: ServerMode.all)
    func singleSuffixAndOpenRangesGet206(_ mode: ServerMode) throws {
        let server = try startRangeSite(mode)
        for (path, content) in [("/small.bin", Self.small), ("/large.bin", Self.large)] {
            let length = content.count
            let cases: [(String, Range<Int>)] = [
                ("bytes=0-99", 0..<100), ("bytes=100-100", 100..<101), ("bytes=-500", (length - 500)..<length),
                ("bytes=4000-", 4000..<length), ("bytes=10-\(length * 2)", 10..<length),
                ("bytes=-\(length * 2)", 0..<length), ("BYTES=1-2", 1..<3),
            ]
            for (range, expected) in cases {
                let response = try fetch(server, path, ["Range: \(range)"])
                #expect(response.status == 206, "\(path) \(range)")
                #expect(
                    response.header("Content-Range")
                        == "bytes \(expected.lowerBound)-\(expected.upperBound - 1)/\(length)", "\(path) \(range)")
                #expect(response.body == Array(content[expected]), "\(path) \(range)")
                #expect(response.header("Accept-Ranges") == "bytes")
                #expect(response.header("ETag") != nil)
            }
            let whole = try fetch(server, path)
            #expect(whole.header("Accept-Ranges") == "bytes", "a 200 says ranges are supported")
        }
    }

    @Test(arguments: ServerMode.all)
    func severalRangesAreMultipartByteranges(_ mode: ServerMode) throws {
        let server = try startRangeSite(mode)
        for (path, content) in [("/small.bin", Self.small), ("/large.bin", Self.large)] {
            let length = content.count
            // Out of order on purpose: parts come sorted.
            let response = try fetch(server, path, ["Range: bytes=-100, 0-9, 1000-1999"])
            #expect(response.status == 206, "\(path)")
            #expect(response.header("Content-Range") == nil, "a multipart 206 has none of its own (15.3.7.2)")
            #expect(response.header("Content-Length") == String(response.body.count))
            guard let parts = multipartParts(response) else { continue }
            let expected = [0..<10, 1000..<2000, (length - 100)..<length]
            #expect(parts.count == expected.count, "\(path)")
            for (part, range) in zip(parts, expected) {
                #expect(part.fields["content-type"] == "application/octet-stream")
                #expect(part.fields["content-range"] == "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(length)")
                #expect(part.body == Array(content[range]), "\(path) part \(range)")
            }
        }
    }

    /// Megabytes of parts to a client that reads slowly: the engine goes on from part to part
    /// whenever the socket takes more, without holding a thread.
    @Test(arguments: ServerMode.all)
    func largeMultipartReachesASlowReaderWhole(_ mode: ServerMode) throws {
        let server = try startRangeSite(mode)
        let client = try connect(server, timeout: 30, receiveBufferSize: 8192)
        let ranges = [0..<(1 << 20), (1 << 20) + 500..<(2 << 20), (2 << 20) + 100..<(3 << 20)]
        let spec = ranges.map { "\($0.lowerBound)-\($0.upperBound - 1)" }.joined(separator: ",")
        try client.send(Requests.get("/large.bin", "Range: bytes=\(spec)\r\n") + Requests.get("/small.bin"))
        let response = try client.readResponse()
        #expect(response.status == 206)
        if let parts = multipartParts(response) {
            #expect(parts.map(\.body) == (ranges.map { Array(Self.large[$0]) }))
        }
        try expectEqual(client.readResponse().body, Self.small, "the next request on the connection")
    }

    @Test(arguments: ServerMode.all)
    func unsatisfiableRangesGet416WithTheLength(_ mode: ServerMode) throws {
        let server = try startRangeSite(mode)
        for range in ["bytes=5000-", "bytes=5000-6000", "bytes=-0", "bytes=9000-,7000-8000"] {
            let response = try fetch(server, "/small.bin", ["Range: \(range)"])
            #expect(response.status == 416, "\(range)")
            #expect(response.header("Content-Range") == "bytes */5000", "\(range)")
        }
        // Not a byte range at all: ignored, the whole file.
        for range in ["items=0-1", "bytes=5-1", "bytes=x-y"] {
            let response = try fetch(server, "/small.bin", ["Range: \(range)"])
            #expect(response.status == 200, "\(range)")
            #expect(response.body == Self.small, "\(range)")
        }
    }

    @Test(arguments: ServerMode.all)
    func ifRangeSendsTheRangeOnlyForTheCurrentVersion(_ mode: ServerMode) throws {
        let server = try startRangeSite(mode)
        let etag = try #require(try fetch(server, "/large.bin").header("ETag"))
        let cases: [(String, Int)] = [
            (etag, 206), ("\"other\"", 200), ("W/\(etag)", 200), (Self.modifiedText, 206),
            ("Thu, 02 Jan 2020 03:04:06 GMT", 200), ("garbage", 200),
        ]
        for (condition, status) in cases {
            let response = try fetch(server, "/large.bin", ["Range: bytes=0-9", "If-Range: \(condition)"])
            #expect(response.status == status, "If-Range: \(condition)")
            #expect(response.body.count == (status == 206 ? 10 : Self.large.count), "If-Range: \(condition)")
        }
    }

    @Test(arguments: ServerMode.all)
    func headWithRangeAnswersThe206Head(_ mode: ServerMode) throws {
        let server = try startRangeSite(mode)
        for path in ["/small.bin", "/large.bin"] {
            let client = try connect(server)
            try client.send(
                Requests.head(path, "Range: bytes=10-19\r\n") + Requests.get(path, "Range: bytes=10-19\r\n"))
            let head = try client.readResponse(to: "HEAD")
            let get = try client.readResponse()
            #expect(head.status == 206, "\(path)")
            #expect(head.header("Content-Range") == get.header("Content-Range"))
            #expect(head.header("Content-Length") == "10")
            #expect(get.body.count == 10, "nothing of the HEAD's body was sent")
        }
    }

    /// CVE-2011-3192: overlapping or many small ranges must not make one request cost many
    /// times the file. Overlaps are coalesced; past 100 ranges the whole file is sent once.
    @Test(arguments: ServerMode.all)
    func theRangeAttackDoesNotMultiplyTheBytesSent(_ mode: ServerMode) throws {
        let server = try startRangeSite(mode)
        let overlapping = "bytes=" + (0..<100).map { "\($0)-" }.joined(separator: ",")
        var response = try fetch(server, "/large.bin", ["Range: \(overlapping)"])
        #expect(response.status == 206)
        #expect(response.header("Content-Range") == "bytes 0-\(Self.large.count - 1)/\(Self.large.count)")
        #expect(response.body == Self.large, "one copy of the file, not a hundred")
        let tooMany = "bytes=" + (0..<200).map { "\($0 * 10)-\($0 * 10 + 5)" }.joined(separator: ",")
        response = try fetch(server, "/large.bin", ["Range: \(tooMany)"])
        #expect(response.status == 200)
        #expect(response.body.count == Self.large.count)
        // Close small ranges merge into one part.
        response = try fetch(server, "/large.bin", ["Range: bytes=0-0,2-2,4-4,6-6"])
        #expect(response.status == 206)
        #expect(response.header("Content-Range") == "bytes 0-6/\(Self.large.count)")
    }
}
