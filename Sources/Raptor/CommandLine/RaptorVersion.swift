internal import CRaptor

/// The version of raptor-ev, and of the C libraries it runs on.
public enum RaptorVersion {
    /// The one place the version is written.
    public static let current = "0.1.0"

    /// `raptor-ev 0.1.0 (libev 4.33, http_parser 2.9.4, OpenSSL 3.0.19, nghttp2 1.52.0)`: what `--version`
    /// prints. The C libraries are the ones actually linked (Debian may update them under
    /// the binary).
    public static var description: String {
        var evMajor: Int32 = 0
        var evMinor: Int32 = 0
        var httpParserVersion: UInt = 0
        rv_library_versions(&evMajor, &evMinor, &httpParserVersion)
        // http_parser_version() packs major, minor and patch into one byte each.
        let httpParser = [16, 8, 0].map { String((httpParserVersion >> $0) & 0xFF) }.joined(
            separator: ".")
        // "OpenSSL 3.0.19 27 Jan 2026": the name and the number.
        let openSSL = String(cString: rv_tls_library_version()).split(separator: " ").prefix(2).joined(separator: " ")
        let nghttp2 = String(cString: rv_nghttp2_version())
        return
            "raptor-ev \(current) (libev \(evMajor).\(evMinor), http_parser \(httpParser), \(openSSL), nghttp2 \(nghttp2))"
    }
}
