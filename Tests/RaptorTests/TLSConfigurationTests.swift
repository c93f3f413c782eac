import Foundation
import Testing

@testable import Raptor

@Suite("TLS configuration")
struct TLSConfigurationTests {
    @Test("ssl:// addresses parse like tcp://, with Puma's cert= and key= parameters")
    func sslBindAddresses() throws {
        #expect(
            try BindAddress(parsing: "ssl://0.0.0.0:9443")
                == .ssl(host: "0.0.0.0", port: 9443, certificates: [], keys: []))
        #expect(
            try BindAddress(parsing: "ssl://[::1]:443?cert=/a/c%20d.pem&key=/a/k.pem&cert=/dir")
                == .ssl(host: "::1", port: 443, certificates: ["/a/c d.pem", "/dir"], keys: ["/a/k.pem"]))
        let address = try BindAddress(parsing: "ssl://[::1]:443?cert=/secret/c.pem&key=/secret/k.pem")
        #expect(address.description == "ssl://[::1]:443", "no file names in logs and errors")
        #expect(address.isSecure)
        #expect(address.tcpEndpoint?.port == 443)
        #expect(try !BindAddress(parsing: "tcp://1.2.3.4:1").isSecure)
        // The PROXY protocol's option beside the certificates (the header comes before TLS).
        let behindBalancer = "ssl://10.0.0.1:443?proxy_protocol=v2&cert=/c.pem&key=/k.pem"
        #expect(
            try BindAddress(parsing: behindBalancer)
                == .ssl(host: "10.0.0.1", port: 443, certificates: ["/c.pem"], keys: ["/k.pem"]))
        #expect(try BindOptions(parsing: behindBalancer).proxyProtocol == .v2)
        let bads = [
            "ssl://h:1?kex=x", "ssl://h:1?cert=", "ssl://h:1?cert", "tcp://h:1?cert=a", "unix:///s?key=/k", "ssl://h",
            "ssl://:1",
        ]
        for bad in bads {
            #expect(throws: RaptorError.self, "\(bad)") { try BindAddress(parsing: bad) }
        }
    }

    @Test("certificate files pair with key files in order; a directory stands for its NAME.crt/NAME.key pairs")
    func pairing() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pairs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["b.crt", "b.key", "a.pem", "a.key", "lonely.crt", "other.key", "notes.txt"] {
            #expect(FileManager.default.createFile(atPath: directory.path + "/" + name, contents: Data()))
        }
        let pairs = try TLSCertificatePair.pairs(
            certificates: ["x.pem", directory.path, "y.pem"], keys: ["x.key", "y.key"], option: "--tls-cert")
        #expect(
            pairs == [
                TLSCertificatePair(certificate: "x.pem", key: "x.key"),
                TLSCertificatePair(certificate: directory.path + "/a.pem", key: directory.path + "/a.key"),
                TLSCertificatePair(certificate: directory.path + "/b.crt", key: directory.path + "/b.key"),
                TLSCertificatePair(certificate: "y.pem", key: "y.key"),
            ])
        #expect(throws: RaptorError.self) {
            try TLSCertificatePair.pairs(certificates: ["x.pem"], keys: [], option: "--tls-cert")
        }
        #expect(throws: RaptorError.self) {
            try TLSCertificatePair.pairs(certificates: [], keys: ["x.key"], option: "--tls-cert")
        }
    }

    @Test("validation names the flag: certificates without ssl://, ssl:// without certificates, verify without a CA")
    func validation() {
        func message(_ change: (inout Configuration) -> Void) -> String? {
            var configuration = Configuration()
            change(&configuration)
            do {
                try configuration.validate()
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(
            message {
                $0.tlsCertificates = ["a.pem"]; $0.tlsKeys = ["a.key"]
            }?.hasPrefix("--tls-cert:") == true)
        #expect(message { $0.binds = ["ssl://127.0.0.1:1"] }?.contains("needs a certificate") == true)
        let served: (inout Configuration) -> Void = {
            $0.binds = ["ssl://127.0.0.1:1"]
            $0.tlsCertificates = ["a.pem"]
            $0.tlsKeys = ["a.key"]
        }
        #expect(message(served) == nil)
        #expect(
            message {
                served(&$0); $0.tlsVerify = .optional
            }?.hasPrefix("--tls-verify:") == true)
        #expect(
            message {
                served(&$0); $0.tlsClientCA = "ca.pem"
            } == nil)
        #expect(
            message {
                served(&$0); $0.tlsTicketRotation = .seconds(85 * 3600)
            }?.hasPrefix("--tls-ticket-rotation") == true)
        var configuration = Configuration()
        #expect(configuration.effectiveTLSVerify == .none)
        configuration.tlsClientCA = "ca.pem"
        #expect(configuration.effectiveTLSVerify == .required)
    }
}
