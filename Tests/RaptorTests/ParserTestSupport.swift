// What the parser unit tests share: a driver that feeds the C parser as the engine does,
// a comparable snapshot of what one parse produced, and `parse`, which feeds a request
// whole, split in two at every byte position, and byte by byte (each feed with a fresh
// buffer holding the bytes received so far, so the buffer moves between feeds) and
// reports whether every way of splitting gave the same outcome.
//
// `parse` asserts nothing itself, so XCTest cases (ParserTests) and Swift Testing cases
// (the newer files) both use it.

import CRaptor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func latin1(_ b: some Sequence<UInt8>) -> String {
    String(String.UnicodeScalarView(b.map { Unicode.Scalar($0) }))
}

func limits(
    maxTarget: UInt32 = 8192, maxHead: UInt32 = 16384, maxFields: UInt32 = 100,
    maxBody: UInt64 = 1 << 20, bodyMemoryMax: UInt64 = 64 * 1024
) -> rv_limits {
    rv_limits(
        max_target: maxTarget, max_head: maxHead, max_fields: maxFields,
        max_body: maxBody, body_memory_max: bodyMemoryMax)
}

let host = "Host: example.com\r\n"
let chunkedHead = "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n"

/// What one parse produced, comparable across feeding patterns.
struct Snapshot: Equatable, CustomStringConvertible {
    var result: UInt32 = 0
    var status: Int = 0
    var reason: String = ""
    var consumed: UInt32 = 0
    var sawContinue = false
    var method = ""
    var methodCode: UInt32 = 0
    var target = ""
    var major = 0
    var minor = 0
    var keepAlive = false
    var expectContinue = false
    var chunked = false
    var upgrade = false
    var contentLength: Int64 = -1
    var headLength: UInt32 = 0
    var fields: [[String]] = []
    var trailerStart = 0
    var body: [UInt8] = []
    var bodyInFile = false

    var trailers: [[String]] { Array(fields[trailerStart...]) }
    var headers: [[String]] { Array(fields[..<trailerStart]) }
    var complete: Bool { result == RV_PARSE_COMPLETE.rawValue && status == 0 }
    var failed: Bool { result == RV_PARSE_ERROR.rawValue }

    var description: String {
        "result=\(result) status=\(status) reason=\(reason) consumed=\(consumed) "
            + "continue=\(sawContinue) \(method) \(target) \(major).\(minor) fields=\(fields) "
            + "body=\(body.count)\(bodyInFile ? "(file)" : "")"
    }
}

/// Owns a parser and the connection's read buffer; drives rv_parser_feed.
final class Driver {
    let parser: OpaquePointer
    private var buffer: UnsafeMutablePointer<UInt8>?

    init(_ limits: rv_limits) {
        var l = limits
        parser = rv_parser_create(&l)!
    }

    deinit {
        rv_parser_destroy(parser)
        buffer?.deallocate()
    }

    var request: rv_request { rv_parser_request(parser)!.pointee }

    /// A fresh allocation holding bytes[0..<end] (the old one is freed: the buffer moves).
    private func refill(_ all: [UInt8], _ end: Int) -> UnsafeMutablePointer<UInt8> {
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: max(end, 1))
        all.withUnsafeBufferPointer { fresh.initialize(from: $0.baseAddress!, count: end) }
        buffer?.deallocate()
        buffer = fresh
        return fresh
    }

    /// Feeds `all` in segments ending at each of `cuts` (the last one is all.count).
    /// Stops at the first COMPLETE or ERROR; HEAD_CONTINUE continues with the rest.
    func run(_ all: [UInt8], cuts: [Int]) -> Snapshot {
        var snap = Snapshot()
        var start: UInt32 = 0
        var last = RV_PARSE_MORE
        outer: for cut in cuts {
            let buf = refill(all, cut)
            let end = UInt32(cut)
            while true {
                var consumed: UInt32 = 0
                last = rv_parser_feed(parser, buf, start, end, &consumed)
                snap.consumed = consumed
                switch last {
                case RV_PARSE_MORE:
                    precondition(consumed == end, "MORE must consume everything")
                    start = end
                    continue outer
                case RV_PARSE_HEAD_CONTINUE:
                    snap.sawContinue = true
                    start = consumed
                    if start == end { continue outer }
                default:
                    break outer
                }
            }
        }
        snap.result = last.rawValue
        // On ERROR consumed is just the end of the last feed (the connection closes), so
        // it depends on the split; everything else must not.
        if last == RV_PARSE_ERROR { snap.consumed = 0 }
        capture(into: &snap, buffer: buffer!)
        return snap
    }

    func capture(into snap: inout Snapshot, buffer buf: UnsafePointer<UInt8>) {
        let r = request
        snap.status = Int(r.error_status)
        snap.reason = r.error_reason.map { String(cString: $0) } ?? ""
        guard snap.result == RV_PARSE_COMPLETE.rawValue else { return }
        func text(_ s: rv_span) -> String {
            latin1(UnsafeBufferPointer(start: buf + Int(s.off), count: Int(s.len)))
        }
        snap.method = String(cString: r.method_name)
        snap.methodCode = r.method.rawValue
        snap.target = text(r.target)
        snap.major = Int(r.version_major)
        snap.minor = Int(r.version_minor)
        snap.keepAlive = r.keep_alive != 0
        snap.expectContinue = r.expect_continue != 0
        snap.chunked = r.chunked != 0
        snap.upgrade = r.upgrade != 0
        snap.contentLength = r.content_length
        snap.headLength = r.head_length
        snap.trailerStart = Int(r.trailer_start)
        snap.fields = withUnsafeBytes(of: r.fields) { raw in
            let f = raw.bindMemory(to: rv_field.self)
            return (0..<Int(r.field_count)).map { [text(f[$0].name), text(f[$0].value)] }
        }
        snap.body = Driver.bodyBytes(r.body)
        snap.bodyInFile = r.body.fd >= 0
    }

    static func bodyBytes(_ body: rv_body) -> [UInt8] {
        let n = Int(body.length)
        if body.fd >= 0 {
            var out = [UInt8](repeating: 0, count: n)
            var off = 0
            while off < n {
                let got = out.withUnsafeMutableBytes {
                    pread(body.fd, $0.baseAddress! + off, n - off, off_t(off))
                }
                precondition(got > 0, "short read from the body file")
                off += got
            }
            return out
        }
        if n == 0 { return [] }
        return Array(UnsafeBufferPointer(start: body.data, count: n))
    }
}

/// The outcome of parsing one input every way it can be split.
struct Parse {
    var whole: Snapshot
    /// How a split (or byte-by-byte) feeding differed from the whole, if one did.
    var mismatch: String?
}

/// Parses `input` whole, split in two at every position, and byte by byte.
func parse(_ input: [UInt8], _ l: rv_limits = limits()) -> Parse {
    let n = input.count
    let whole = Driver(l).run(input, cuts: [n])
    for k in 1..<max(n, 1) {
        let split = Driver(l).run(input, cuts: [k, n])
        if split != whole { return Parse(whole: whole, mismatch: "split at \(k): \(split)\n  whole: \(whole)") }
    }
    let single = Driver(l).run(input, cuts: Array(1...max(n, 1)))
    if single != whole { return Parse(whole: whole, mismatch: "byte by byte: \(single)\n  whole: \(whole)") }
    return Parse(whole: whole, mismatch: nil)
}

func parse(_ input: String, _ l: rv_limits = limits()) -> Parse { parse(bytes(input), l) }
