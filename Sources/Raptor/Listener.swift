#if canImport(Glibc)
    import Glibc
#endif

/// A bound, listening socket and what it was bound from.
public struct Listener: Sendable {
    /// The address asked for.
    public let address: BindAddress
    /// The listening socket.
    public let fileDescriptor: Int32
    /// Where it really listens (`tcp://127.0.0.1:43817` when port 0 was asked for;
    /// `ssl://...` for a TLS address).
    public let boundURL: String

    /// Binds and listens. Errors are one line naming the address and the reason.
    public static func bind(_ address: BindAddress, backlog: Int, reusePort: Bool = false) throws -> [Listener] {
        if let (host, port) = address.tcpEndpoint {
            return try bindTCP(address, host: host, port: port, backlog: backlog, reusePort: reusePort)
        }
        guard case .unix(let path) = address else { return [] }
        return [try bindUnix(address, path: path, backlog: backlog)]
    }

    /// Closes the socket, and removes the file of a Unix socket.
    public func close() {
        _ = Glibc.close(fileDescriptor)
        if case .unix(let path) = address { unlink(path) }
    }

    private static func failure(_ address: BindAddress, _ what: String, _ code: Int32) -> RaptorError {
        .bind(address: address.description, message: "\(what): \(String(cString: strerror(code)))")
    }

    /// Binds every address the host name resolves to (`localhost` is both 127.0.0.1
    /// and ::1), so a client reaches the server whichever it tries first.
    private static func bindTCP(
        _ address: BindAddress, host: String, port: UInt16, backlog: Int, reusePort: Bool
    ) throws -> [Listener] {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        let failed = getaddrinfo(host, String(port), &hints, &results)
        guard failed == 0, let first = results else {
            throw RaptorError.bind(address: address.description, message: String(cString: gai_strerror(failed)))
        }
        defer { freeaddrinfo(results) }
        var listeners: [Listener] = []
        var seen: Set<[UInt8]> = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        do {
            while let info = cursor?.pointee {
                cursor = info.ai_next
                let key = Array(UnsafeRawBufferPointer(start: info.ai_addr, count: Int(info.ai_addrlen)))
                guard seen.insert(key).inserted else { continue }
                let fd = socket(info.ai_family, info.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.ai_protocol)
                guard fd >= 0 else { throw failure(address, "socket", errno) }
                var one: Int32 = 1
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
                if reusePort { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) }
                if info.ai_family == AF_INET6 {
                    setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
                }
                guard Glibc.bind(fd, info.ai_addr, info.ai_addrlen) == 0, listen(fd, Int32(backlog)) == 0 else {
                    let code = errno
                    _ = Glibc.close(fd)
                    throw failure(address, "bind", code)
                }
                let url = boundURL(of: fd, scheme: address.isSecure ? "ssl" : "tcp")
                listeners.append(Listener(address: address, fileDescriptor: fd, boundURL: url))
            }
        } catch {
            listeners.forEach { $0.close() }
            throw error
        }
        return listeners
    }

    private static func boundURL(of fd: Int32, scheme: String) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        let host = SocketAddress.numericHost(storage, length: length) ?? "?"
        return BindAddress.url(scheme, host, SocketAddress.port(storage))
    }

    /// A socket file left by a dead server is removed; one a live server answers on is
    /// refused, so two servers never steal each other's socket.
    private static func bindUnix(_ address: BindAddress, path: String, backlog: Int) throws -> Listener {
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw RaptorError.bind(address: address.description, message: "\(path) exists and is not a socket")
            }
            if unixSocketAnswers(path) {
                throw RaptorError.bind(address: address.description, message: "a running server listens on \(path)")
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure(address, "socket", errno) }
        var socketAddress = unixAddress(path)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(fd, Int32(backlog)) == 0 else {
            let code = errno
            _ = Glibc.close(fd)
            throw failure(address, "bind", code)
        }
        return Listener(address: address, fileDescriptor: fd, boundURL: address.description)
    }

    private static func unixAddress(_ path: String) -> sockaddr_un {
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
        }
        return socketAddress
    }

    private static func unixSocketAnswers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { _ = Glibc.close(fd) }
        var socketAddress = unixAddress(path)
        return withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }
}
