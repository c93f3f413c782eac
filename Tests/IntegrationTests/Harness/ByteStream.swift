import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A connection's byte stream, as RawClient reads and writes it: plain TCP here; a TLS
/// stream over the same socket implements the same calls (its `socket` stays the TCP one,
/// so ports and kernel queues keep their meaning).
protocol ByteStream: AnyObject {
    /// The TCP socket underneath.
    var socket: Int32 { get }

    /// Writes every byte; each blocking write is bounded by the stream's timeout.
    func send(_ bytes: UnsafeRawBufferPointer) throws(ByteStreamError)

    /// Waits until input is ready or `deadline` passes, then reads what is there into
    /// `buffer`.
    func receive(into buffer: UnsafeMutableRawBufferPointer, before deadline: Deadline) throws(ByteStreamError)
        -> StreamInput

    /// Whether input (bytes, or the end of the stream) is ready within `seconds`, without
    /// reading it.
    func hasInput(within seconds: Double) -> Bool

    /// Half-closes: the server reads the end of the stream; reading goes on.
    func shutdownWrite()

    /// Closes the connection (idempotent).
    func close()
}

/// What one `receive` found.
enum StreamInput: Equatable {
    case bytes(Int)
    /// The server closed its side.
    case end
    /// The server reset the connection (RST).
    case reset
    case timedOut
}

enum ByteStreamError: Error, CustomStringConvertible {
    /// A send did not finish in time: the server stopped reading.
    case sendTimedOut(sent: Int, of: Int)
    case failed(String)

    var description: String {
        switch self {
        case .sendTimedOut(let sent, let total): "timed out sending (\(sent) of \(total) bytes sent)"
        case .failed(let what): what
        }
    }

    static func system(_ what: String) -> ByteStreamError {
        .failed("\(what): \(String(cString: strerror(errno)))")
    }
}

/// A blocking TCP connection to 127.0.0.1, every wait bounded.
final class TCPStream: ByteStream {
    let socket: Int32
    private var closed = false

    /// Connects to 127.0.0.1:`port`. Blocking sends give up after `timeout` seconds.
    /// `receiveBufferSize` shrinks SO_RCVBUF before the connect, so the window is small from
    /// the start: a client that stops reading then stalls the server quickly.
    init(port: UInt16, timeout: Double, receiveBufferSize: Int? = nil) throws(ByteStreamError) {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket") }
        var time = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if var size = receiveBufferSize.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let failure = ByteStreamError.system("connect to 127.0.0.1:\(port)")
            Glibc.close(fd)
            throw failure
        }
        socket = fd
    }

    deinit { close() }

    func close() {
        if !closed {
            closed = true
            Glibc.close(socket)
        }
    }

    func send(_ bytes: UnsafeRawBufferPointer) throws(ByteStreamError) {
        var offset = 0
        while offset < bytes.count {
            let sent = Glibc.send(socket, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if sent > 0 {
                offset += sent
            } else if sent < 0 && errno == EINTR {
                continue
            } else if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                throw .sendTimedOut(sent: offset, of: bytes.count)
            } else {
                throw .system("send after \(offset) of \(bytes.count) bytes")
            }
        }
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer, before deadline: Deadline) throws(ByteStreamError)
        -> StreamInput
    {
        while true {
            var poller = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = Glibc.poll(&poller, 1, deadline.remainingMilliseconds)
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 { return .timedOut }
            let count = recv(socket, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 { return .bytes(count) }
            if count == 0 { return .end }
            switch errno {
            case EINTR, EAGAIN: continue
            case ECONNRESET, EPIPE: return .reset
            default: throw .system("recv")
            }
        }
    }

    func hasInput(within seconds: Double) -> Bool {
        var poller = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&poller, 1, Int32(seconds * 1000)) > 0
    }

    func shutdownWrite() { shutdown(socket, Int32(SHUT_WR)) }
}
