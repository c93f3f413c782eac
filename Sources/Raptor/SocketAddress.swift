#if canImport(Glibc)
    import Glibc
#endif

/// Formatting of socket addresses for logs and `Request.remoteAddress`.
enum SocketAddress {
    /// The numeric host of an IPv4 or IPv6 address; nil for Unix sockets.
    static func numericHost(_ storage: sockaddr_storage, length: socklen_t) -> String? {
        guard storage.ss_family == sa_family_t(AF_INET) || storage.ss_family == sa_family_t(AF_INET6) else {
            return nil
        }
        var storage = storage
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let failed = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST)
            }
        }
        guard failed == 0 else { return nil }
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The port of an IPv4 or IPv6 address.
    static func port(_ storage: sockaddr_storage) -> UInt16 {
        var storage = storage
        let family = storage.ss_family
        return withUnsafePointer(to: &storage) { pointer in
            if family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    UInt16(bigEndian: $0.pointee.sin6_port)
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                UInt16(bigEndian: $0.pointee.sin_port)
            }
        }
    }
}
