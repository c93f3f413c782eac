internal import CRaptor

/// The TLS session a request came over.
public struct TLSDetails: Sendable, Hashable {
    /// The protocol version: `TLSv1.2` or `TLSv1.3`.
    public let version: String
    /// The cipher (suite), in OpenSSL's name: `TLS_AES_128_GCM_SHA256`.
    public let cipher: String
    /// The server name the client asked for (SNI); nil when it sent none.
    public let serverName: String?
    /// The protocol ALPN chose (`http/1.1`); nil when the client offered none.
    public let applicationProtocol: String?
    /// The verified client certificate's subject, RFC 2253 (`CN=alice,O=Example`); nil
    /// without one (see `--tls-verify`).
    public let clientCertificateSubject: String?
}

extension Request {
    /// Whether the request came over TLS (an `ssl://` address).
    public var isSecure: Bool {
        var info = rv_tls_info()
        return rv_conn_tls_info(connection, &info) != 0
    }

    /// The TLS session the request came over; nil for a plain connection.
    public var tls: TLSDetails? {
        var info = rv_tls_info()
        guard rv_conn_tls_info(connection, &info) != 0 else { return nil }
        var subject = [CChar](repeating: 0, count: 1024)
        let length = rv_conn_tls_client_subject(connection, &subject, subject.count)
        return TLSDetails(
            version: info.version.map { String(cString: $0) } ?? "",
            cipher: info.cipher.map { String(cString: $0) } ?? "",
            serverName: info.server_name.map { String(cString: $0) },
            applicationProtocol: info.alpn.map { String(cString: $0) },
            clientCertificateSubject: length > 0
                ? String(decoding: subject.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil)
    }
}
