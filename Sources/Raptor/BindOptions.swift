/// The options of a `--bind` URL, after `?` (`tcp://0.0.0.0:9292?proxy_protocol=v2`):
/// `name=value` pairs separated by `&`.
public struct BindOptions: Sendable, Equatable {
    /// The PROXY protocol header a load balancer sends first on each connection of this
    /// bind (`proxy_protocol=v1|v2|optional`), believed only from `--trusted-proxies`.
    public var proxyProtocol: ProxyProtocol?

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
            case "proxy_protocol":
                guard proxyProtocol == nil else { throw fail("proxy_protocol is given twice") }
                guard let mode = ProxyProtocol(rawValue: String(parts[1])) else {
                    throw fail("proxy_protocol must be v1, v2 or optional, not '\(parts[1])'")
                }
                proxyProtocol = mode
            default:
                throw fail("unknown option '\(parts[0])' (known: proxy_protocol)")
            }
        }
    }

    /// The URL without its options.
    static func address(of url: String) -> String {
        url.firstIndex(of: "?").map { String(url[..<$0]) } ?? url
    }
}
