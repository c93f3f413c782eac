import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Certificates made at test time with the openssl CLI (no private key is ever committed):
/// a CA and, signed by it, the server certificates the TLS tests serve, an intermediate CA
/// with a leaf below it (a chain in one file), and client certificates from a trusted and
/// an untrusted CA. Made once per test process, in a temporary directory.
struct TestCertificates: Sendable {
    let directory: String
    /// The CA every server certificate chains to (clients verify against it).
    var caFile: String { path("ca.pem") }
    /// CN=localhost, subjectAltName DNS:localhost and IP:127.0.0.1.
    var localhost: (certificate: String, key: String) { pair("localhost") }
    /// subjectAltName DNS:a.example.test.
    var named: (certificate: String, key: String) { pair("a.example.test") }
    /// subjectAltName DNS:*.wild.example.test.
    var wildcard: (certificate: String, key: String) { pair("wild") }
    /// subjectAltName DNS:chain.example.test, signed by an intermediate CA; the file holds
    /// the leaf and the intermediate.
    var chained: (certificate: String, key: String) { (path("chain-bundle.pem"), path("chain.key")) }
    /// The CA client certificates are checked against.
    var clientCAFile: String { path("client-ca.pem") }
    /// CN=alice,O=Raptor Tests, signed by the client CA.
    var client: (certificate: String, key: String) { pair("alice") }
    /// A client certificate from a CA the server does not trust.
    var strangerClient: (certificate: String, key: String) { pair("mallory") }

    func path(_ name: String) -> String { directory + "/" + name }
    func pair(_ name: String) -> (certificate: String, key: String) { (path(name + ".pem"), path(name + ".key")) }

    /// The certificates of this test process (made on first use).
    static var shared: TestCertificates {
        get throws { try made.get() }
    }

    private static let made = Result { try TestCertificates.make() }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs the openssl CLI (bounded); throws with its output when it fails.
    @discardableResult
    static func openssl(_ arguments: [String], in directory: String, timeout: Double = 20) throws -> String {
        let result = try ExternalClient.run(
            "openssl", arguments, timeout: timeout, outputDirectory: URL(fileURLWithPath: directory))
        guard result.succeeded else {
            throw Failure(description: "openssl \(arguments.joined(separator: " ")): \(result)")
        }
        return result.standardOutput
    }

    private static func make() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("raptor-tls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        try certificates.makeCA("ca", subject: "/CN=Raptor Test CA")
        try certificates.makeCA("client-ca", subject: "/CN=Raptor Test Client CA")
        try certificates.makeCA("stranger-ca", subject: "/CN=Someone Else's CA")
        try certificates.makeLeaf("localhost", subject: "/CN=localhost", names: "DNS:localhost,IP:127.0.0.1", ca: "ca")
        try certificates.makeLeaf(
            "a.example.test", subject: "/CN=a.example.test", names: "DNS:a.example.test", ca: "ca")
        try certificates.makeLeaf("wild", subject: "/CN=wild", names: "DNS:*.wild.example.test", ca: "ca")
        try certificates.makeLeaf(
            "intermediate", subject: "/CN=Raptor Test Intermediate CA", names: nil, ca: "ca", isCA: true)
        try certificates.makeLeaf(
            "chain", subject: "/CN=chain.example.test", names: "DNS:chain.example.test", ca: "intermediate")
        let bundle =
            try String(contentsOfFile: certificates.path("chain.pem"), encoding: .utf8)
            + String(contentsOfFile: certificates.path("intermediate.pem"), encoding: .utf8)
        try bundle.write(toFile: certificates.path("chain-bundle.pem"), atomically: true, encoding: .utf8)
        try certificates.makeLeaf(
            "alice", subject: "/CN=alice/O=Raptor Tests", names: nil, ca: "client-ca", usage: "clientAuth")
        try certificates.makeLeaf(
            "mallory", subject: "/CN=mallory", names: nil, ca: "stranger-ca", usage: "clientAuth")
        return certificates
    }

    private func makeCA(_ name: String, subject: String) throws {
        try Self.openssl(
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", subject, "-keyout", path(name + ".key"), "-out", path(name + ".pem"),
            ], in: directory)
    }

    /// A key and a certificate signed by `ca`; `names` is a subjectAltName value.
    func makeLeaf(
        _ name: String, subject: String, names: String?, ca: String, isCA: Bool = false, usage: String = "serverAuth",
        days: Int = 2
    ) throws {
        try Self.openssl(
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subject,
                "-keyout", path(name + ".key"), "-out", path(name + ".csr"),
            ], in: directory)
        var extensions =
            isCA
            ? ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=critical,keyCertSign,cRLSign"]
            : ["basicConstraints=CA:FALSE", "keyUsage=digitalSignature", "extendedKeyUsage=\(usage)"]
        if let names { extensions.append("subjectAltName=\(names)") }
        try (extensions.joined(separator: "\n") + "\n").write(
            toFile: path(name + ".ext"), atomically: true, encoding: .utf8)
        try Self.openssl(
            [
                "x509", "-req", "-in", path(name + ".csr"), "-CA", path(ca + ".pem"), "-CAkey", path(ca + ".key"),
                "-CAcreateserial", "-days", String(days), "-extfile", path(name + ".ext"), "-out", path(name + ".pem"),
            ], in: directory)
    }
}

/// `openssl s_client` runs: the handshake as OpenSSL's own client reports it.
enum SClient {
    struct Outcome {
        let result: ExternalClient.Result
        var output: String { result.standardOutput + result.standardError }
        /// "New" or "Reused" from s_client's session line.
        var reused: Bool { output.contains("Reused, TLS") }
        var handshakeSucceeded: Bool { output.contains("Cipher is ") && !output.contains("Cipher is (NONE)") }
    }

    /// Connects to 127.0.0.1:`port` with `arguments`, sends `request` (when given), and
    /// waits for the server to close or the time limit.
    static func run(
        port: UInt16, _ arguments: [String], request: String? = nil, directory: URL, timeout: Double = 15
    ) throws -> Outcome {
        var all = ["s_client", "-connect", "127.0.0.1:\(port)"] + arguments
        if let request {
            let file = directory.appendingPathComponent("request-\(UUID().uuidString.prefix(8))")
            try request.write(to: file, atomically: true, encoding: .utf8)
            // s_client reads the request from a file given as stdin through a shell-free
            // redirection: sh -c keeps the argument list exact.
            let command =
                (["openssl"] + all.dropFirst(0).map { "'\($0)'" }).joined(separator: " ")
                + " -ign_eof < '\(file.path)'"
            let result = try ExternalClient.run("sh", ["-c", command], timeout: timeout, outputDirectory: directory)
            return Outcome(result: result)
        }
        all.append("-no_ign_eof")
        let result = try ExternalClient.run("openssl", all, timeout: timeout, outputDirectory: directory)
        return Outcome(result: result)
    }
}
