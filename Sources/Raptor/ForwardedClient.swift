import HTTPTypes

#if canImport(Glibc)
    import Glibc
#endif

/// The client's address behind trusted proxies: when the peer (after any PROXY header) is
/// a trusted proxy, the hops its forwarded field lists (`X-Forwarded-For`, or RFC 7239's
/// `Forwarded: for=`) are walked from the right, skipping trusted proxies; the first
/// untrusted hop is the client (so a client cannot forge its address by sending a field
/// of its own: only what the trusted proxies appended is believed). When every hop is
/// trusted, the leftmost is the client; a hop that is no address (`unknown`, an
/// obfuscated name, garbage) stops the walk at the last trusted hop. A peer that is not a
/// trusted proxy is the client, whatever it sends.
struct ForwardedClient: Sendable {
    let trusted: TrustedProxies
    let field: Configuration.ForwardedHeader

    init(trusted: TrustedProxies, field: Configuration.ForwardedHeader) {
        self.trusted = trusted
        self.field = field
    }

    /// The resolver for `configuration`; nil when nothing is ever forwarded to it.
    init?(_ configuration: Configuration) {
        guard configuration.forwardedHeader != .none, !configuration.trustedProxies.isEmpty,
            let trusted = try? TrustedProxies(configuration.trustedProxies)
        else { return nil }
        self.trusted = trusted
        field = configuration.forwardedHeader
    }

    /// The client's numeric address for a request from `peer` with these header fields.
    func address(peer: sockaddr_storage, length: socklen_t, fields: RequestFields) -> String? {
        address(peer: peer, length: length, hops: trusted.contains(peer) ? hops(fields) : [])
    }

    /// The walk itself, over the hops a field listed (leftmost first).
    func address(peer: sockaddr_storage, length: socklen_t, hops: [Substring]) -> String? {
        var client = SocketAddress.numericHost(peer, length: length)
        guard trusted.contains(peer) else { return client }
        for hop in hops.reversed() {
            guard let address = Self.parse(hop) else { return client }
            client = address.text
            if !trusted.contains(address.storage) { return client }
        }
        return client
    }

    /// The hops in order, leftmost (furthest from us) first, across every field line.
    func hops(_ fields: RequestFields) -> [Substring] {
        switch field {
        case .none: return []
        case .xForwardedFor:
            return fields.values(for: Self.xForwardedFor).flatMap { $0.split(separator: ",") }.map(Self.trimmed)
        case .forwarded:
            return fields.values(for: Self.forwarded).flatMap { Self.forwardedFor($0) }
        }
    }

    private static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    private static let forwarded = HTTPField.Name("Forwarded")!

    /// The `for=` value of each element of a Forwarded field value (RFC 7239 section 4:
    /// elements separated by `,`, pairs by `;`, names case-insensitive, values a token or
    /// a quoted string); an element without `for` counts as an unknown hop.
    static func forwardedFor(_ value: String) -> [Substring] {
        var hops: [Substring] = []
        for element in splitOutsideQuotes(Substring(value), ",") {
            var hop: Substring = "unknown"
            for pair in splitOutsideQuotes(element, ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, trimmed(parts[0]).lowercased() == "for" else { continue }
                var text = trimmed(parts[1])
                if text.count >= 2, text.first == "\"", text.last == "\"" {
                    text = text.dropFirst().dropLast()
                }
                hop = text
            }
            hops.append(hop)
        }
        return hops
    }

    private static func splitOutsideQuotes(_ text: Substring, _ separator: Character) -> [Substring] {
        var parts: [Substring] = []
        var start = text.startIndex
        var quoted = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "\"" {
                quoted.toggle()
            } else if character == "\\" && quoted {
                index = text.index(after: index)
                if index == text.endIndex { break }
            } else if character == separator && !quoted {
                parts.append(text[start..<index])
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        parts.append(text[start...])
        return parts
    }

    private static func trimmed(_ text: Substring) -> Substring {
        var text = text
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }

    /// A hop as an address: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
    /// `[2001:db8::1]`, `[2001:db8::1]:4711`; nil for anything else.
    static func parse(_ hop: Substring) -> (storage: sockaddr_storage, text: String)? {
        var host = hop
        if host.first == "[" {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            guard after.isEmpty || (after.first == ":" && after.dropFirst().allSatisfy(\.isNumber)) else { return nil }
            host = host[host.index(after: host.startIndex)..<close]
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.firstIndex(of: ":") {
            guard host[host.index(after: colon)...].allSatisfy(\.isNumber) else { return nil }
            host = host[..<colon]  // IPv4 with a port
        }
        var storage = sockaddr_storage()
        let family: Int32? = withUnsafeMutablePointer(to: &storage) { pointer in
            if pointer.withMemoryRebound(
                to: sockaddr_in.self, capacity: 1,
                {
                    inet_pton(AF_INET, String(host), &$0.pointee.sin_addr)
                }) == 1
            {
                return AF_INET
            }
            if pointer.withMemoryRebound(
                to: sockaddr_in6.self, capacity: 1,
                {
                    inet_pton(AF_INET6, String(host), &$0.pointee.sin6_addr)
                }) == 1
            {
                return AF_INET6
            }
            return nil
        }
        guard let family else { return nil }
        storage.ss_family = sa_family_t(family)
        let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        guard let text = SocketAddress.numericHost(storage, length: length) else { return nil }
        return (storage, text)
    }
}
