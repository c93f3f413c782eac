internal import CRaptor

#if canImport(Glibc)
    import Glibc
#endif

/// `--trusted-proxies`: the addresses and address blocks (`10.0.0.0/8`, `192.0.2.7`,
/// `2001:db8::/32`) of the load balancers whose PROXY protocol headers and forwarded
/// fields are believed. A Unix socket peer is a local process and always trusted.
struct TrustedProxies: @unchecked Sendable {
    // @unchecked: rv_cidr is a plain C struct of bytes, never mutated after init.
    let blocks: [rv_cidr]

    init(_ entries: [String]) throws {
        blocks = try entries.map(Self.block)
    }

    var isEmpty: Bool { blocks.isEmpty }

    /// One entry: an IPv4 or IPv6 address, optionally `/bits`.
    static func block(_ entry: String) throws -> rv_cidr {
        func fail(_ message: String) -> RaptorError {
            .invalidConfiguration(option: "--trusted-proxies", message: "'\(entry)': \(message)")
        }
        let parts = entry.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        var block = rv_cidr()
        let parsed = withUnsafeMutableBytes(of: &block.address) { bytes -> Int32? in
            if inet_pton(AF_INET, String(parts[0]), bytes.baseAddress) == 1 { return 4 }
            if inet_pton(AF_INET6, String(parts[0]), bytes.baseAddress) == 1 { return 6 }
            return nil
        }
        guard let family = parsed else { throw fail("expected an IPv4 or IPv6 address, optionally /bits") }
        let maximum = family == 4 ? 32 : 128
        var bits = maximum
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maximum).contains(value), parts[1].allSatisfy(\.isNumber) else {
                throw fail("the prefix length must be 0 to \(maximum)")
            }
            bits = value
        }
        block.family = UInt8(family)
        block.bits = UInt8(bits)
        return block
    }

    /// Whether the socket address (IPv4, IPv6 or IPv4-mapped IPv6) is in a block; a Unix
    /// socket peer always is.
    func contains(_ address: sockaddr_storage) -> Bool {
        if address.ss_family == sa_family_t(AF_UNIX) { return true }
        var address = address
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socket in
                blocks.withUnsafeBufferPointer { rv_cidr_contains($0.baseAddress, UInt32($0.count), socket) != 0 }
            }
        }
    }
}
