/// The options of a `--bind` URL, after `?` (`tcp://0.0.0.0:9292?proxy_protocol=v2`,
/// `ssl://0.0.0.0:9443?cert=/path/cert.pem&key=/path/key.pem`): `name=value` pairs
/// separated by `&`, values percent-decoded.
public struct BindOptions: Sendable, Equatable {
    /// The PROXY protocol header a load balancer sends first on each connection of this
    /// bind (`proxy_protocol=v1|v2|optional`), believed only from `--trusted-proxies`. On
    /// an ssl:// bind it comes in the clear, before the TLS handshake.
    public var proxyProtocol: ProxyProtocol?
    /// `cert=` (repeatable: a certificate file, or a directory of pairs) and `key=`, as
    /// Puma writes them: an ssl:// bind's own certificates (`BindAddress.ssl`).
    public var certificates: [String] = []
    public var keys: [String] = []

    public enum ProxyProtocol: String, Sendable, CaseIterable {
        /// A version 1 (text) header on every connection; without it, closed.
        case v1
        /// A version 2 (binary) header on every connection; without it, closed.
        case v2
        /// A header of either version, or none (a mixed migration period).
        case optional
    }

    public init(proxyProtocol: ProxyProtocol? = nil) {
        self.proxyProtocol = proxyProtocol
    }

    /// The options of `url`; the error names the option and what is wrong.
    public init(parsing url: String) throws {
        guard let mark = url.firstIndex(of: "?") else { return }
        func fail(_ message: String) -> RaptorError {
            .invalidConfiguration(option: "--bind", message: "'\(url)': \(message)")
        }
        for pair in url[url.index(after: mark)...].split(separator: "&", omittingEmptySubsequences: false) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else { throw fail("'\(pair)' is not name=value") }
            switch parts[0] {
            case "cert", "key":
                guard let path = PercentDecoding.decode(String(parts[1])), !path.isEmpty else {
                    throw fail("'\(pair)' needs a path, as cert=/path/cert.pem")
                }
                if parts[0] == "cert" { certificates.append(path) } else { keys.append(path) }
            case "proxy_protocol":
                guard proxyProtocol == nil else { throw fail("proxy_protocol is given twice") }
                guard let mode = ProxyProtocol(rawValue: String(parts[1])) else {
                    throw fail("proxy_protocol must be v1, v2 or optional, not '\(parts[1])'")
                }
                proxyProtocol = mode
            default:
                throw fail("unknown option '\(parts[0])' (known: proxy_protocol, cert, key)")
            }
        }
    }

    /// The URL without its options.
    static func address(of url: String) -> String {
        url.firstIndex(of: "?").map { String(url[..<$0]) } ?? url
    }
}
