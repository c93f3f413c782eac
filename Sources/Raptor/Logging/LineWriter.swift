#if canImport(Glibc)
    import Glibc
#endif

/// Writes whole lines to a file descriptor with one write(2) each.
///
/// Log and access-log lines come from the loop thread and every app thread of a worker,
/// and from every worker process at once. Handing each line to the kernel in a single
/// write keeps them whole: the kernel never interleaves two writes to a pipe (up to
/// PIPE_BUF bytes, 4 KiB on Linux) or to a file opened for appending. No stdio buffer is
/// involved, so nothing is left half-written in a buffer that a fork would copy.
enum LineWriter {
    static let standardOutput: Int32 = 1
    static let standardError: Int32 = 2

    /// Writes `line` and a newline. A partial write (a signal, or a line longer than the
    /// pipe buffer) is continued; any other failure drops the rest of the line, since a
    /// log that cannot be written must not stop the server.
    static func write(_ line: String, to descriptor: Int32) {
        var text = line
        text.append("\n")
        text.withUTF8 { bytes in
            guard var next = bytes.baseAddress else { return }
            var remaining = bytes.count
            while remaining > 0 {
                let written = Glibc.write(descriptor, next, remaining)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                next += written
                remaining -= written
            }
        }
    }
}
