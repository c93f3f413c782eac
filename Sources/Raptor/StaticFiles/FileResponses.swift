internal import CRaptor
import HTTPTypes

#if canImport(Glibc)
    import Glibc
#endif

/// The answer to a GET or HEAD of a file, from its cached representations: content
/// negotiation (precompressed siblings), preconditions (RFC 9110 section 13.2.2), then
/// ranges (section 14).
enum FileResponses {
    static func respond(_ file: CachedFile, to request: StaticFiles.FileRequest) -> Response {
        let coding = ContentCoding.negotiate(request.acceptEncoding, available: file.codings)
        let representation = file.representation(coding)
        let vary = !file.codings.isEmpty
        // RFC 9110 section 8.8.2.1: never later than the Date field beside it (a file written
        // this second, or a modification time in the future, is advertised as the Date).
        let now = Int(rv_date_now())
        let lastModified = min(representation.modified, now)
        func clamped(_ fields: ResponseFields) -> ResponseFields {
            guard lastModified != representation.modified else { return fields }
            var fields = fields
            fields[.lastModified] = HTTPDate.format(lastModified)
            return fields
        }
        switch Preconditions.evaluate(request.conditions, etag: representation.etag, lastModified: lastModified) {
        case .failed:
            return status(.preconditionFailed, "Precondition Failed\n", vary: vary)
        case .notModified:
            return Response(status: .notModified, headers: clamped(representation.notModifiedFields))
        case .proceed:
            break
        }
        var outcome = ByteRanges.Outcome.whole
        if let range = request.range,
            request.ifRange.map({
                Preconditions.ifRangeHolds($0, etag: representation.etag, lastModified: lastModified)
            }) ?? true
        {
            outcome = ByteRanges.evaluate(range, length: representation.length)
        }
        switch outcome {
        case .ranges(let ranges) where ranges.count == 1:
            var fields = clamped(representation.fields)
            fields.append(.contentRange, contentRange(ranges[0], of: representation.length))
            return response(.partialContent, fields, body(representation, ranges[0]))
        case .ranges(let ranges) where coding == nil:
            return multipart(representation, ranges, fields: clamped(representation.fields))
        case .unsatisfiable:
            var response = status(.rangeNotSatisfiable, "Range Not Satisfiable\n", vary: vary)
            response.headers.append(.contentRange, "bytes */\(representation.length)")
            response.headers.append(.acceptRanges, "bytes")
            return response
        case .whole, .ranges:
            // Several ranges of an encoded representation: a Content-Encoding beside a
            // multipart/byteranges body would say the multipart body is encoded, so the
            // whole representation goes instead (section 14.2 lets a server ignore Range).
            return response(.ok, clamped(representation.fields), body(representation, 0..<representation.length))
        }
    }

    /// The bytes of `range`: a slice of the cached bytes, or a duplicate of the cached
    /// descriptor (which the engine closes after sending); nil when no descriptor is left.
    private static func body(_ representation: FileRepresentation, _ range: Range<UInt64>) -> Response.Body? {
        switch representation.content {
        case .bytes(let bytes):
            if range.count == bytes.count { return .bytes(bytes) }
            return .bytes(Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)]))
        case .descriptor(let descriptor):
            let copy = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
            guard copy >= 0 else { return nil }
            return .file(FileRegion(fileDescriptor: copy, offset: range.lowerBound, length: UInt64(range.count)))
        }
    }

    private static func response(_ status: HTTPResponse.Status, _ fields: ResponseFields, _ body: Response.Body?)
        -> Response
    {
        guard let body else { return StaticFiles.unavailable }
        return Response(status: status, headers: fields, body: body)
    }

    /// `bytes FIRST-LAST/LENGTH` (section 14.4). Written by hand: interpolating the three
    /// numbers cost about 2,500 instructions, a quarter of what a whole request costs.
    private static func contentRange(_ range: Range<UInt64>, of length: UInt64) -> String {
        String(unsafeUninitializedCapacity: 6 + 2 + 3 * 20) { buffer in
            var at = 0
            append("bytes ", to: buffer, at: &at)
            append(range.lowerBound, to: buffer, at: &at)
            append("-", to: buffer, at: &at)
            append(range.upperBound - 1, to: buffer, at: &at)
            append("/", to: buffer, at: &at)
            append(length, to: buffer, at: &at)
            return at
        }
    }

    private static func append(_ text: StaticString, to buffer: UnsafeMutableBufferPointer<UInt8>, at: inout Int) {
        text.withUTF8Buffer { bytes in
            for byte in bytes {
                buffer[at] = byte
                at += 1
            }
        }
    }

    private static func append(_ value: UInt64, to buffer: UnsafeMutableBufferPointer<UInt8>, at: inout Int) {
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        rest = value
        for offset in (0..<digits).reversed() {
            buffer[at + offset] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        at += digits
    }

    /// A short text answer (412, 416), with Vary when the file has coded siblings (the
    /// answer may differ with Accept-Encoding).
    private static func status(_ status: HTTPResponse.Status, _ text: String, vary: Bool) -> Response {
        var headers: ResponseFields = [.contentType: StaticFiles.textType]
        if vary { headers.append(.vary, "Accept-Encoding") }
        return Response(status: status, headers: headers, body: .string(text))
    }

    /// A multipart/byteranges 206 (section 14.6): each part's header, then its bytes; the
    /// parts sent with sendfile from a large file, from memory for a small one.
    private static func multipart(
        _ representation: FileRepresentation, _ ranges: [Range<UInt64>], fields: ResponseFields
    ) -> Response {
        let boundary =
            String(UInt64.random(in: 0...UInt64.max), radix: 16) + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        var fields = fields
        fields[.contentType] = "multipart/byteranges; boundary=" + boundary
        let parts = ranges.enumerated().map { index, range in
            let text =
                (index == 0 ? "" : "\r\n") + "--" + boundary + "\r\nContent-Type: " + representation.contentType
                + "\r\nContent-Range: " + contentRange(range, of: representation.length) + "\r\n\r\n"
            return FileParts.Part(text: Array(text.utf8), offset: range.lowerBound, length: UInt64(range.count))
        }
        let tail = Array("\r\n--\(boundary)--\r\n".utf8)
        switch representation.content {
        case .bytes(let bytes):
            var body: [UInt8] = []
            for part in parts {
                body += part.text
                body += bytes[Int(part.offset)..<Int(part.offset + part.length)]
            }
            return Response(status: .partialContent, headers: fields, body: .bytes(body + tail))
        case .descriptor(let descriptor):
            let copy = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
            guard copy >= 0 else { return StaticFiles.unavailable }
            return Response(
                status: .partialContent, headers: fields,
                body: .fileParts(FileParts(fileDescriptor: copy, parts: parts, tail: tail)))
        }
    }
}
