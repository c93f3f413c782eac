import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The base of the static-file suites: sites built for a test (files with chosen bytes
/// and modification times), one-request exchanges with extra fields, and a reader for
/// multipart/byteranges bodies.
class StaticSiteSuite: ServerSuite {
    /// Thu, 02 Jan 2020 03:04:05 GMT
    static let modified = Date(timeIntervalSince1970: 1_577_934_245)
    static let modifiedText = "Thu, 02 Jan 2020 03:04:05 GMT"

    /// A new directory with `files` (relative path to bytes), each modified at `modified`
    /// (nil: now). Returns its path.
    func makeSite(_ files: [String: [UInt8]], modified: Date? = StaticSiteSuite.modified) throws -> String {
        let site = try makeTemporaryDirectory().appendingPathComponent("site")
        try FileManager.default.createDirectory(at: site, withIntermediateDirectories: true)
        for (path, bytes) in files {
            let url = site.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
            if let modified {
                try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: url.path)
            }
        }
        return site.path
    }

    /// `count` bytes that differ from any other such call's (a cheap xorshift; no two
    /// ranges of a file look alike, so a wrong offset cannot pass).
    static func noise(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
        var state = seed | 1
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            for index in 0..<count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                buffer[index] = UInt8(truncatingIfNeeded: state >> 24)
            }
            initialized = count
        }
    }

    /// One request (`method PATH` with `fields`, each "Name: value") on a new connection.
    func fetch(
        _ server: ServerProcess, _ path: String, _ fields: [String] = [], method: String = "GET",
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> HTTPResponseMessage {
        let extra = fields.map { $0 + "\r\n" }.joined()
        let request = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n\(extra)\r\n"
        return try exchange(server, request, method: method, sourceLocation: sourceLocation)
    }

    /// The parts of a multipart/byteranges body (RFC 9110 section 14.6), or nil (and a
    /// failure) when the body is not one: each part's fields (names lowercased) and bytes.
    func multipartParts(
        _ response: HTTPResponseMessage, sourceLocation: SourceLocation = #_sourceLocation
    ) -> [(fields: [String: String], body: [UInt8])]? {
        let type = response.header("Content-Type") ?? ""
        guard type.hasPrefix("multipart/byteranges"), let range = type.range(of: "boundary=") else {
            Issue.record(
                "not multipart/byteranges: Content-Type \(type.debugDescription)", sourceLocation: sourceLocation)
            return nil
        }
        let boundary = Array(("--" + type[range.upperBound...]).utf8)
        let body = response.body
        var parts: [(fields: [String: String], body: [UInt8])] = []
        // Delimiters: the body starts with one (no preamble here), each next one follows a CRLF.
        var starts: [Int] = []
        var index = 0
        while index + boundary.count <= body.count {
            if body[index..<index + boundary.count].elementsEqual(boundary)
                && (index == 0 || (body[index - 2] == 13 && body[index - 1] == 10))
            {
                starts.append(index)
                index += boundary.count
            } else {
                index += 1
            }
        }
        guard starts.first == 0, starts.count >= 2 else {
            Issue.record("no delimiters in the multipart body", sourceLocation: sourceLocation)
            return nil
        }
        let closing = starts[starts.count - 1]
        guard body[(closing + boundary.count)...].elementsEqual(Array("--\r\n".utf8)) else {
            Issue.record("the multipart body does not end with the close delimiter", sourceLocation: sourceLocation)
            return nil
        }
        for (start, next) in zip(starts, starts.dropFirst()) {
            let part = Array(body[(start + boundary.count)..<(next - 2)])  // up to the CRLF of the next delimiter
            guard part.starts(with: [13, 10]),
                let headEnd = (0..<max(part.count - 3, 0)).first(where: {
                    part[$0] == 13 && part[$0 + 1] == 10 && part[$0 + 2] == 13 && part[$0 + 3] == 10
                })
            else {
                Issue.record("a part without its header section", sourceLocation: sourceLocation)
                return nil
            }
            var fields: [String: String] = [:]
            for fieldLine in String(decoding: part[2..<headEnd], as: UTF8.self).components(separatedBy: "\r\n") {
                guard let colon = fieldLine.firstIndex(of: ":") else { continue }
                fields[fieldLine[..<colon].lowercased()] = fieldLine[fieldLine.index(after: colon)...]
                    .trimmingCharacters(in: .whitespaces)
            }
            parts.append((fields, Array(part[(headEnd + 4)...])))
        }
        return parts
    }

    /// Seconds since the epoch of an HTTP-date field, failing the test when absent or bad.
    func dateField(
        _ response: HTTPResponseMessage, _ name: String, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Int? {
        guard let text = response.header(name), let date = HTTPDate.parse(text) else {
            Issue.record(
                "\(name): \(response.header(name).debugDescription) is not an HTTP-date", sourceLocation: sourceLocation
            )
            return nil
        }
        return Int(date.timeIntervalSince1970)
    }
}
