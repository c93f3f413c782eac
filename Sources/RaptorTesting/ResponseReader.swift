import HTTPTypes

/// Reads HTTP/1.1 responses from a byte stream (RFC 9112): the head, then the body by the
/// framing the head and the request's method say. Strict where a client must be: a response
/// that breaks framing throws rather than reads as something else.
struct ResponseReader {
    /// Bytes received and not yet consumed.
    private(set) var buffer: [UInt8] = []
    /// Reads more bytes into `buffer`; false at the end of the stream.
    let receive: (inout [UInt8]) throws -> Bool

    /// Heads larger than this are refused.
    static let maxHeadSize = 1 << 20

    mutating func readResponse(method: HTTPRequest.Method) throws -> TestResponse {
        var interim: [HTTPResponse.Status] = []
        while true {
            var response = try readHead()
            let code = response.status.code
            if code >= 100 && code < 200 && code != 101 {
                interim.append(response.status)
                continue
            }
            response.interimStatuses = interim
            try readBody(of: &response, method: method)
            return response
        }
    }

    /// True when the peer closed the stream with nothing left unread.
    mutating func atEnd() throws -> Bool {
        buffer.isEmpty ? try !receive(&buffer) : false
    }

    private mutating func readHead() throws -> TestResponse {
        var searchFrom = 0
        while true {
            if let end = Self.find([13, 10, 13, 10], in: buffer, from: searchFrom) {
                let head = Array(buffer[..<end])
                buffer.removeFirst(end + 4)
                return try Self.parseHead(head)
            }
            guard buffer.count <= Self.maxHeadSize else { throw RaptorTestingError.malformedResponse("head too large") }
            searchFrom = max(0, buffer.count - 3)
            guard try receive(&buffer) else { throw RaptorTestingError.closedBeforeResponse(received: buffer.count) }
        }
    }

    private static func parseHead(_ head: [UInt8]) throws -> TestResponse {
        let lines = head.split(separator: [13, 10], omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        let statusLine = lines[0].split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let code = Int(statusLine[1]),
            (100...999).contains(code)
        else { throw RaptorTestingError.malformedResponse("status line \(lines[0].debugDescription)") }
        let reason = statusLine.count > 2 ? String(statusLine[2]) : ""
        return TestResponse(
            version: String(statusLine[0]), status: HTTPResponse.Status(code: code, reasonPhrase: reason),
            headers: try parseFields(lines.dropFirst()), body: [], framing: .none, chunks: [], trailers: [:],
            interimStatuses: [])
    }

    private static func parseFields(_ lines: some Sequence<String>) throws -> HTTPFields {
        var fields = HTTPFields()
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), let name = HTTPField.Name(String(line[..<colon])) else {
                throw RaptorTestingError.malformedResponse("field line \(line.debugDescription)")
            }
            let value = line[line.index(after: colon)...].trimmingWhitespace()
            fields.append(HTTPField(name: name, value: value))
        }
        return fields
    }

    private mutating func readBody(of response: inout TestResponse, method: HTTPRequest.Method) throws {
        let code = response.status.code
        if method == .head || code == 204 || code == 304 || (100..<200).contains(code) {
            response.framing = .none
            return
        }
        let lengths = response.headers[values: .contentLength]
        if let encoding = response.headers[.transferEncoding] {
            guard lengths.isEmpty else {
                throw RaptorTestingError.malformedResponse("both Transfer-Encoding and Content-Length")
            }
            guard encoding.lowercased().hasSuffix("chunked") else {
                throw RaptorTestingError.malformedResponse("Transfer-Encoding \(encoding) without chunked last")
            }
            response.framing = .chunked
            try readChunks(into: &response)
        } else if !lengths.isEmpty {
            guard lengths.count == 1, let length = Int(lengths[0]), length >= 0 else {
                throw RaptorTestingError.malformedResponse("Content-Length \(lengths)")
            }
            response.framing = .contentLength
            response.body = try take(length)
        } else {
            response.framing = .closeDelimited
            while try receive(&buffer) {}
            response.body = buffer
            buffer = []
        }
    }

    private mutating func readChunks(into response: inout TestResponse) throws {
        while true {
            let line = try readLine()
            let sizeText = line.split(separator: ";", maxSplits: 1).first.map { $0.trimmingWhitespace() } ?? ""
            guard let size = Int(sizeText, radix: 16), size >= 0 else {
                throw RaptorTestingError.malformedResponse("chunk size line \(line.debugDescription)")
            }
            if size == 0 { break }
            let chunk = try take(size)
            guard try readLine().isEmpty else { throw RaptorTestingError.malformedResponse("no CRLF after a chunk") }
            response.chunks.append(chunk)
            response.body += chunk
        }
        var trailerLines: [String] = []
        while case let line = try readLine(), !line.isEmpty { trailerLines.append(line) }
        response.trailers = try Self.parseFields(trailerLines)
    }

    private mutating func readLine() throws -> String {
        while true {
            if let end = Self.find([13, 10], in: buffer, from: 0) {
                let line = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 2)
                return line
            }
            guard try receive(&buffer) else { throw RaptorTestingError.closedBeforeResponse(received: buffer.count) }
        }
    }

    private mutating func take(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try receive(&buffer) else { throw RaptorTestingError.closedBeforeResponse(received: buffer.count) }
        }
        defer { buffer.removeFirst(count) }
        return Array(buffer[..<count])
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        for index in start...(haystack.count - needle.count)
        where haystack[index] == needle[0] && Array(haystack[index..<index + needle.count]) == needle {
            return index
        }
        return nil
    }
}

extension StringProtocol {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
