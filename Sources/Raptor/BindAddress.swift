/// A parsed `--bind` URL.
public enum BindAddress: Sendable, Equatable, CustomStringConvertible {
    /// `tcp://HOST:PORT`; host is a name or a numeric address (IPv6 without brackets).
    case tcp(host: String, port: UInt16)
    /// `unix:///path/to/socket`
    case unix(path: String)

    /// Reads the address of `url`; its options (after `?`) are checked here and read by
    /// `BindOptions`.
    public init(parsing bind: String) throws {
        _ = try BindOptions(parsing: bind)
        let url = BindOptions.address(of: bind)
        func fail(_ message: String) -> RaptorError {
            .invalidConfiguration(option: "--bind", message: "'\(bind)': \(message)")
        }
        if url.hasPrefix("unix://") {
            let path = String(url.dropFirst("unix://".count))
            guard path.hasPrefix("/") else {
                throw fail("a Unix socket needs an absolute path, as unix:///run/app.sock")
            }
            guard path.utf8.count < 108 else { throw fail("a Unix socket path must be shorter than 108 bytes") }
            self = .unix(path: path)
            return
        }
        guard url.hasPrefix("tcp://") else { throw fail("expected tcp://HOST:PORT or unix:///PATH") }
        let rest = url.dropFirst("tcp://".count)
        let host: Substring
        let portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("unclosed '[' in an IPv6 address") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            guard after.hasPrefix(":") else { throw fail("a port is needed, as tcp://[::1]:9292") }
            portText = after.dropFirst()
        } else {
            guard let colon = rest.lastIndex(of: ":") else { throw fail("a port is needed, as tcp://0.0.0.0:9292") }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
            guard !host.contains(":") else { throw fail("an IPv6 address goes in brackets, as tcp://[::1]:9292") }
        }
        guard !host.isEmpty else { throw fail("the host is empty") }
        guard let port = UInt16(portText) else { throw fail("'\(portText)' is not a port (0-65535)") }
        self = .tcp(host: String(host), port: port)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        case .unix(let path): "unix://\(path)"
        }
    }
}
