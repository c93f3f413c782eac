#if canImport(Glibc)
    import Glibc
#endif

/// The oldest TLS version a server accepts.
public enum TLSVersion: String, Sendable, CaseIterable {
    case v1_2 = "1.2"
    case v1_3 = "1.3"
}

/// Whether TLS clients present a certificate.
public enum TLSVerify: String, Sendable, CaseIterable {
    /// No certificate is asked for.
    case none
    /// A certificate is asked for; a client may send none, but one it sends must verify.
    case optional
    /// A client without a certificate that verifies fails the handshake.
    case required
}

/// The defaults a TLS scanner finds nothing wrong with: Mozilla's "intermediate" profile.
public enum TLSDefaults {
    /// TLS 1.2: forward-secret AEAD ciphers, ECDSA before RSA, AES-128 first (cheapest).
    public static let ciphers =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
        + "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
    /// TLS 1.3.
    public static let cipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
}

/// A certificate file and its key file, as OpenSSL loads them.
struct TLSCertificatePair: Hashable {
    var certificate: String
    var key: String
}

extension TLSCertificatePair {
    /// Pairs certificate files with key files in order; a directory among the certificates
    /// stands for its pairs (`NAME.crt` or `NAME.pem` with `NAME.key`, by name) and takes
    /// no key. `option` names the flag (or bind) in errors.
    static func pairs(certificates: [String], keys: [String], option: String) throws -> [TLSCertificatePair] {
        func fail(_ message: String) -> RaptorError { .invalidConfiguration(option: option, message: message) }
        var pairs: [TLSCertificatePair] = []
        var remainingKeys = keys[...]
        for certificate in certificates {
            if isDirectory(certificate) {
                let found = try directoryPairs(certificate)
                guard !found.isEmpty else {
                    throw fail("'\(certificate)': no certificate with its key (NAME.crt or NAME.pem with NAME.key)")
                }
                pairs += found
                continue
            }
            guard let key = remainingKeys.popFirst() else {
                throw fail("'\(certificate)' has no key: give a key file for each certificate file, in the same order")
            }
            pairs.append(TLSCertificatePair(certificate: certificate, key: key))
        }
        if let extra = remainingKeys.first {
            throw fail("the key '\(extra)' has no certificate: give a certificate file for each key file")
        }
        return pairs
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    private static func directoryPairs(_ directory: String) throws -> [TLSCertificatePair] {
        guard let stream = opendir(directory) else {
            throw RaptorError.invalidConfiguration(
                option: "--tls-cert", message: "'\(directory)': \(String(cString: strerror(errno)))")
        }
        defer { closedir(stream) }
        var names: Set<String> = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            names.insert(name)
        }
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        return names.sorted().compactMap { name -> TLSCertificatePair? in
            guard name.hasSuffix(".crt") || name.hasSuffix(".pem") else { return nil }
            let stem = String(name.dropLast(4))
            guard names.contains(stem + ".key") else { return nil }
            return TLSCertificatePair(certificate: base + name, key: base + stem + ".key")
        }
    }
}

extension Configuration {
    /// The client certificate policy in force (`tlsVerify`, or its default).
    public var effectiveTLSVerify: TLSVerify { tlsVerify ?? (tlsClientCA == nil ? .none : .required) }

    /// Whether any bind is `ssl://`.
    var servesTLS: Bool { binds.contains { (try? BindAddress(parsing: $0))?.isSecure == true } }

    func validateTLS() throws {
        func fail(_ option: String, _ message: String) throws -> Never {
            throw RaptorError.invalidConfiguration(option: option, message: message)
        }
        let secureBinds = binds.compactMap { bind -> (String, BindAddress)? in
            guard let address = try? BindAddress(parsing: bind), address.isSecure else { return nil }
            return (bind, address)
        }
        if secureBinds.isEmpty {
            if !tlsCertificates.isEmpty || !tlsKeys.isEmpty {
                try fail("--tls-cert", "no ssl:// address to serve with it: add --bind ssl://HOST:PORT")
            }
            return
        }
        for (bind, address) in secureBinds {
            guard case .ssl(_, _, let certificates, let keys) = address else { continue }
            if certificates.isEmpty && !keys.isEmpty {
                try fail("--bind", "'\(address)': key= without cert=")
            }
            if certificates.isEmpty && tlsCertificates.isEmpty {
                try fail(
                    "--bind",
                    "'\(address)' needs a certificate: --tls-cert and --tls-key, or ?cert=PATH&key=PATH in the URL")
            }
            _ = try TLSCertificatePair.pairs(certificates: certificates, keys: keys, option: "--bind '\(bind)'")
        }
        _ = try TLSCertificatePair.pairs(certificates: tlsCertificates, keys: tlsKeys, option: "--tls-cert")
        if tlsCiphers.isEmpty { try fail("--tls-ciphers", "the list is empty") }
        if tlsCipherSuites.isEmpty { try fail("--tls-ciphersuites", "the list is empty") }
        if let tlsClientCA, tlsClientCA.isEmpty { try fail("--tls-client-ca", "the path is empty") }
        if tlsClientCA == nil, let tlsVerify, tlsVerify != .none {
            try fail(
                "--tls-verify", "'\(tlsVerify.rawValue)' needs --tls-client-ca (the CAs client certificates chain to)")
        }
        // A ticket lives two intervals; RFC 8446 section 4.6.1 caps its lifetime at 7 days.
        if tlsTicketRotation < .seconds(1) || tlsTicketRotation > .seconds(84 * 3600) {
            try fail(
                "--tls-ticket-rotation", "must be between 1s and 84h (a ticket lives two rotations, 7 days at most)")
        }
    }
}
