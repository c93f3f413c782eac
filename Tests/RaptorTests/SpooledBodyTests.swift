// What a body costs once it is spooled to its temporary file (issue 9, defect 1): it goes
// to the file through a buffer, one write(2) per tens of KiB, whatever its chunks or the
// reads it arrives in. Counted with the kernel's per-thread I/O accounting.

import CRaptor
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Write system calls made so far by the calling thread (Linux task I/O accounting).
private func writeSyscallsOfThisThread() -> Int {
    let fd = open("/proc/thread-self/io", O_RDONLY)
    guard fd >= 0 else { return -1 }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 1024)
    let length = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
    guard length > 0 else { return -1 }
    let text = String(decoding: buffer[..<length], as: UTF8.self)
    for line in text.split(separator: "\n") where line.hasPrefix("syscw:") {
        return Int(line.dropFirst(6).drop(while: { $0 == " " })) ?? -1
    }
    return -1
}

@Suite struct SpooledBodyTests {
    // Issue 9, defect 1: once spooled, the body goes to its file through a buffer (one
    // write per tens of KiB), not one write(2) per chunk or per feed.
    @Test func manySmallChunksTakeFewWrites() {
        let chunks = 200_000
        var request = bytes(chunkedHead)
        request.reserveCapacity(request.count + chunks * 6 + 5)
        for i in 0..<chunks { request += [0x31, 0x0D, 0x0A, UInt8(65 + i % 26), 0x0D, 0x0A] }
        request += bytes("0\r\n\r\n")
        let driver = Driver(limits(maxBody: 1 << 20, bodyMemoryMax: 1024))
        let before = writeSyscallsOfThisThread()
        var consumed: UInt32 = 0
        let result = request.withUnsafeBufferPointer {
            rv_parser_feed(driver.parser, $0.baseAddress!, 0, UInt32($0.count), &consumed)
        }
        let writes = writeSyscallsOfThisThread() - before
        #expect(before >= 0, "no /proc/thread-self/io")
        #expect(result == RV_PARSE_COMPLETE)
        #expect(driver.request.body.fd >= 0)
        #expect(Driver.bodyBytes(driver.request.body) == (0..<chunks).map { UInt8(65 + $0 % 26) })
        #expect(writes <= 16, "\(writes) writes for a \(chunks)-byte body")
    }

    // The same for a Content-Length body arriving a few bytes per read.
    @Test func smallReadsOfALongBodyTakeFewWrites() {
        let length = 200_000
        let body = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let request = bytes("POST / HTTP/1.1\r\n\(host)Content-Length: \(length)\r\n\r\n") + body
        let driver = Driver(limits(maxBody: 1 << 20, bodyMemoryMax: 1024))
        let before = writeSyscallsOfThisThread()
        var result = RV_PARSE_MORE
        request.withUnsafeBufferPointer { buffer in
            var start: UInt32 = 0
            while result == RV_PARSE_MORE && Int(start) < buffer.count {
                let end = min(Int(start) + 3, buffer.count)
                var consumed: UInt32 = 0
                result = rv_parser_feed(driver.parser, buffer.baseAddress!, start, UInt32(end), &consumed)
                start = consumed
            }
        }
        let writes = writeSyscallsOfThisThread() - before
        #expect(result == RV_PARSE_COMPLETE)
        #expect(Driver.bodyBytes(driver.request.body) == body)
        #expect(writes <= 16, "\(writes) writes for a \(length)-byte body")
    }
}
