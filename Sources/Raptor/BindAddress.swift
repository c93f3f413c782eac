/// A parsed `--bind` URL.
public enum BindAddress: Sendable, Equatable, CustomStringConvertible {
    /// `tcp://HOST:PORT`; host is a name or a numeric address (IPv6 without brackets).
    case tcp(host: String, port: UInt16)
    /// `ssl://HOST:PORT`, HTTPS: TCP with TLS. Certificates given in the URL as Puma writes
    /// them (`?cert=/path/cert.pem&key=/path/key.pem`, repeatable, or `cert=` naming a
    /// directory of pairs) serve this address instead of `--tls-cert`/`--tls-key`.
    case ssl(host: String, port: UInt16, certificates: [String], keys: [String])
    /// `unix:///path/to/socket`
    case unix(path: String)

    /// Reads the address of `url`; its options (after `?`) are checked here and read by
    /// `BindOptions`.
    public init(parsing bind: String) throws {
        let options = try BindOptions(parsing: bind)
        let url = BindOptions.address(of: bind)
        func fail(_ message: String) -> RaptorError {
            .invalidConfiguration(option: "--bind", message: "'\(bind)': \(message)")
        }
        let secure = url.hasPrefix("ssl://")
        guard secure || (options.certificates.isEmpty && options.keys.isEmpty) else {
            throw fail("only ssl:// takes cert and key")
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
        guard secure || url.hasPrefix("tcp://") else {
            throw fail("expected tcp://HOST:PORT, ssl://HOST:PORT or unix:///PATH")
        }
        let scheme = secure ? "ssl" : "tcp"
        let rest = url.dropFirst("tcp://".count)
        let host: Substring
        let portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("unclosed '[' in an IPv6 address") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            guard after.hasPrefix(":") else { throw fail("a port is needed, as \(scheme)://[::1]:9292") }
            portText = after.dropFirst()
        } else {
            guard let colon = rest.lastIndex(of: ":") else {
                throw fail("a port is needed, as \(scheme)://0.0.0.0:9292")
            }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
            guard !host.contains(":") else {
                throw fail("an IPv6 address goes in brackets, as \(scheme)://[::1]:9292")
            }
        }
        guard !host.isEmpty else { throw fail("the host is empty") }
        guard let port = UInt16(portText) else { throw fail("'\(portText)' is not a port (0-65535)") }
        self =
            secure
            ? .ssl(host: String(host), port: port, certificates: options.certificates, keys: options.keys)
            : .tcp(host: String(host), port: port)
    }

    /// Host and port of a TCP address, plain or TLS; nil for a Unix socket.
    public var tcpEndpoint: (host: String, port: UInt16)? {
        switch self {
        case .tcp(let host, let port), .ssl(let host, let port, _, _): (host, port)
        case .unix: nil
        }
    }

    /// Whether connections to this address speak TLS.
    public var isSecure: Bool {
        if case .ssl = self { return true }
        return false
    }

    /// The address without its parameters (which may name files): `ssl://0.0.0.0:9443`.
    public var description: String {
        switch self {
        case .tcp(let host, let port): Self.url("tcp", host, port)
        case .ssl(let host, let port, _, _): Self.url("ssl", host, port)
        case .unix(let path): "unix://\(path)"
        }
    }

    static func url(_ scheme: String, _ host: String, _ port: UInt16) -> String {
        host.contains(":") ? "\(scheme)://[\(host)]:\(port)" : "\(scheme)://\(host):\(port)"
    }
}
