#if canImport(Glibc)
    import Glibc
#endif

/// Where an open descriptor's file lives, as the kernel tells it through
/// `/proc/self/fd/N`: the canonical path (as realpath would give it) of the very file that
/// was opened, whatever renames or symlinks happened on the way.
enum DescriptorPath {
    /// Calls `body` with the path's bytes, or nil when /proc does not answer or the path is
    /// longer than PATH_MAX (a cut answer would be a wrong one). Nothing is allocated.
    static func withPath<Result>(of descriptor: Int32, _ body: (UnsafeRawBufferPointer?) -> Result) -> Result {
        // PATH_MAX plus one byte to detect truncation.
        let capacity = Int(PATH_MAX) + 1
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { target in
            let length = withProcName(of: descriptor) { readlink($0, target.baseAddress!, capacity) }
            guard length > 0, length < capacity else { return body(nil) }
            return body(UnsafeRawBufferPointer(start: target.baseAddress!, count: length))
        }
    }

    /// The path as text (for logs), nil when unknown.
    static func path(of descriptor: Int32) -> String? {
        withPath(of: descriptor) { $0.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Calls `body` with "/proc/self/fd/N" as a C string, built on the stack.
    private static func withProcName<Result>(of descriptor: Int32, _ body: (UnsafePointer<CChar>) -> Result) -> Result {
        let prefix: StaticString = "/proc/self/fd/"
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer in
            var index = 0
            prefix.withUTF8Buffer {
                for byte in $0 {
                    buffer[index] = byte
                    index += 1
                }
            }
            var digits = 1
            while digits <= Int(descriptor) / 10 { digits *= 10 }
            var rest = Int(descriptor)
            while digits > 0 {
                buffer[index] = UInt8(ascii: "0") + UInt8(rest / digits)
                rest %= digits
                digits /= 10
                index += 1
            }
            buffer[index] = 0
            return buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
        }
    }
}
