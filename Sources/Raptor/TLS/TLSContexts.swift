internal import CRaptor

#if canImport(Glibc)
    import Glibc
#endif

/// The TLS contexts of a server's `ssl://` binds: certificates loaded and settings applied
/// by the process that forks the workers, before it forks them. A certificate that does
/// not load is a one-line error naming the file: at start, before anything binds; at a
/// phased (USR2) or hot (HUP) restart, before any worker is replaced, so the running ones
/// go on serving with what they have.
///
/// Binds with the same certificates share one context. Workers inherit the contexts
/// through fork (copy-on-write), so a worker that replaces another gets the certificates
/// the master loaded last.
final class TLSContexts {
    private var byBind: [String: OpaquePointer] = [:]
    private var owned: [OpaquePointer] = []

    /// The contexts of `configuration`'s `ssl://` binds, all sharing `ticketKeys`.
    init(configuration: Configuration, ticketKeys: TLSTicketKeys?) throws {
        var byPairs: [[TLSCertificatePair]: OpaquePointer] = [:]
        do {
            for bind in configuration.binds {
                guard case .ssl(_, _, let certificates, let keys) = try BindAddress(parsing: bind) else { continue }
                let option = certificates.isEmpty ? "--tls-cert" : "--bind"
                let pairs =
                    certificates.isEmpty
                    ? try TLSCertificatePair.pairs(
                        certificates: configuration.tlsCertificates, keys: configuration.tlsKeys, option: option)
                    : try TLSCertificatePair.pairs(certificates: certificates, keys: keys, option: option)
                if let shared = byPairs[pairs] {
                    byBind[bind] = shared
                    continue
                }
                let context = try Self.make(pairs, configuration, ticketKeys, option: option)
                owned.append(context)
                byPairs[pairs] = context
                byBind[bind] = context
            }
        } catch {
            owned.forEach { rv_tls_context_free($0) }
            throw error
        }
    }

    deinit { owned.forEach { rv_tls_context_free($0) } }

    var isEmpty: Bool { owned.isEmpty }

    /// The context of a `--bind` value; nil for a plain address.
    func context(forBind bind: String) -> OpaquePointer? { byBind[bind] }

    /// `sockets` as a worker serves them: each with its bind's options and TLS context.
    func served(_ sockets: [ClusterSocket]) -> [ServedListener] {
        sockets.map { ServedListener(fd: $0.fd, options: $0.options, tls: context(forBind: $0.bind)) }
    }

    private static func make(
        _ pairs: [TLSCertificatePair], _ configuration: Configuration, _ ticketKeys: TLSTicketKeys?, option: String
    ) throws -> OpaquePointer {
        var strings: [UnsafeMutablePointer<CChar>?] = []
        defer { strings.forEach { free($0) } }
        func c(_ text: String?) -> UnsafePointer<CChar>? {
            guard let text else { return nil }
            let copy = strdup(text)
            strings.append(copy)
            return UnsafePointer(copy)
        }
        let certificates = pairs.map { rv_tls_certificate(certificate_file: c($0.certificate), key_file: c($0.key)) }
        var error = [CChar](repeating: 0, count: 512)
        let context = certificates.withUnsafeBufferPointer { list -> OpaquePointer? in
            var settings = rv_tls_settings()
            settings.certificates = list.baseAddress
            settings.certificate_count = Int32(list.count)
            settings.min_version = configuration.tlsMinVersion == .v1_3 ? 13 : 12
            settings.ciphers = c(configuration.tlsCiphers)
            settings.ciphersuites = c(configuration.tlsCipherSuites)
            settings.client_ca = c(configuration.tlsClientCA)
            switch configuration.effectiveTLSVerify {
            case .none: settings.verify = RV_TLS_VERIFY_NONE
            case .optional: settings.verify = RV_TLS_VERIFY_OPTIONAL
            case .required: settings.verify = RV_TLS_VERIFY_REQUIRED
            }
            settings.ticket_keys = ticketKeys?.pointer
            settings.http2 = configuration.http2 ? 1 : 0
            // A ticket outlives its key's first interval by one more (the previous key is still
            // accepted): its lifetime, which clients check too, is two intervals.
            settings.ticket_lifetime = 2 * UInt32(configuration.tlsTicketRotation.seconds.rounded(.up))
            return rv_tls_context_create(&settings, &error, error.count)
        }
        guard let context else {
            let message = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let flag = message.hasPrefix("--") ? String(message.prefix { $0 != ":" }) : option
            let text = message.hasPrefix("--") ? String(message.dropFirst(flag.count + 2)) : message
            throw RaptorError.invalidConfiguration(option: flag, message: text)
        }
        return context
    }
}

/// The session ticket keys every worker shares: a shared-memory mapping made before the
/// workers are forked, never written to a file (tls_tickets.c).
final class TLSTicketKeys {
    let pointer: OpaquePointer

    init(rotation: Duration) throws {
        guard let keys = rv_tls_ticket_keys_create(UInt32(rotation.seconds.rounded(.up))) else {
            throw RaptorError.system("making the TLS session ticket keys", errno)
        }
        pointer = keys
    }

    deinit { rv_tls_ticket_keys_free(pointer) }
}

/// How TLS file bodies leave, for the start-up log.
enum TLSFilePath {
    static var description: String {
        var why = [CChar](repeating: 0, count: 256)
        if rv_tls_kernel_tls_available(&why, why.count) != 0 { return "kernel TLS (SSL_sendfile)" }
        let reason = String(decoding: why.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "read into a buffer, written in 16 KiB records (no kernel TLS: \(reason))"
    }
}
