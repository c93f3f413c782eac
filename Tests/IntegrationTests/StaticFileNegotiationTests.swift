import Foundation
import Testing

/// Precompressed siblings on `raptor-ev serve`: `x.js` from `x.js.br`, `x.js.zst` or
/// `x.js.gz` when Accept-Encoding allows it (q-values, identity;q=0, RFC 9110 section
/// 12.5.3) and the sibling is not older; Content-Encoding, Vary on every response of such a
/// file, each coding's own ETag, and ranges over the encoded bytes.
@Suite(.concurrent) final class StaticFileNegotiationTests: StaticSiteSuite {
    static let script = Array("export const answer = 42;\n".utf8)
    // Not real compressed data except for gzip: the server never looks inside a sibling,
    // and distinct bytes show which file was sent.
    static let brotli = Array("pretend brotli".utf8)
    static let zstandard = Array("pretend zstd".utf8)

    func startNegotiationSite(_ mode: ServerMode, _ flags: [String] = []) throws -> (ServerProcess, gzip: [UInt8]) {
        let site = try makeSite([
            "app.js": Self.script, "app.js.br": Self.brotli, "app.js.zst": Self.zstandard,
            "only-gz.css": Array("p { margin: 0 }\n".utf8), "plain.txt": Array("no siblings\n".utf8),
        ])
        // A real gzip file, made by gzip itself.
        for name in ["app.js", "only-gz.css"] {
            let result = try ExternalClient.run(
                "gzip", ["-k", "-9", "-n", site + "/" + name], timeout: 15, outputDirectory: workDirectory)
            #expect(result.succeeded, "\(result)")
        }
        let gzip = Array(try Data(contentsOf: URL(fileURLWithPath: site + "/app.js.gz")))
        // Siblings are as new as their files.
        for name in ["app.js.gz", "only-gz.css.gz", "app.js.br", "app.js.zst"] {
            try FileManager.default.setAttributes(
                [.modificationDate: Self.modified], ofItemAtPath: site + "/" + name)
        }
        return (try startStaticServer(mode, directory: site, flags), gzip)
    }

    @Test(arguments: ServerMode.all)
    func theAcceptedCodingIsServedWithVary(_ mode: ServerMode) throws {
        let (server, gzip) = try startNegotiationSite(mode)
        let cases: [(String?, String?, [UInt8])] = [
            (nil, nil, Self.script),
            ("gzip", "gzip", gzip),
            ("x-gzip", "gzip", gzip),
            ("gzip, deflate, br, zstd", "br", Self.brotli),
            ("zstd, gzip", "zstd", Self.zstandard),
            ("br;q=0.5, gzip", "gzip", gzip),
            ("gzip;q=0.5, br;q=0.4, zstd;q=0.1, identity;q=0.2", "gzip", gzip),
            ("gzip;q=1.0, identity; q=0.5, *;q=0", "gzip", gzip),
            ("deflate", nil, Self.script),
            ("gzip;q=0, br;q=0", nil, Self.script),
            ("gzip;q=0.1", nil, Self.script),  // identity weighs 1 unless said otherwise
            ("gzip;q=0.1, identity;q=0", "gzip", gzip),
            ("gzip;q=0.001, *;q=0", "gzip", gzip),
            ("*", "br", Self.brotli),
            ("identity", nil, Self.script),
            ("identity;q=0", nil, Self.script),  // nothing acceptable: the file itself (12.5.3)
        ]
        var etags: [String?: String] = [:]
        for (acceptEncoding, coding, body) in cases {
            let fields = acceptEncoding.map { ["Accept-Encoding: \($0)"] } ?? []
            let response = try fetch(server, "/app.js", fields)
            let label = "Accept-Encoding: \(acceptEncoding ?? "(none)")"
            #expect(response.status == 200, "\(label)")
            #expect(response.header("Content-Encoding") == coding, "\(label)")
            #expect(response.body == body, "\(label)")
            #expect(response.tokens("Vary") == ["accept-encoding"], "\(label)")
            #expect(response.header("Content-Type") == "text/javascript; charset=utf-8", "\(label)")
            let etag = try #require(response.header("ETag"))
            if let known = etags[coding] { #expect(etag == known, "one tag per coding") }
            etags[coding] = etag
        }
        #expect(Set(etags.values).count == 4, "each coding has its own ETag: \(etags)")
        // Every answer about the file varies: 304, 206, 412, 416, HEAD.
        let brTag = try #require(etags["br"])
        for fields in [
            ["Accept-Encoding: br", "If-None-Match: \(brTag)"], ["Range: bytes=0-1"], ["If-Match: \"x\""],
            ["Range: bytes=9999-"],
        ] {
            try expectEqual(fetch(server, "/app.js", fields).tokens("Vary"), ["accept-encoding"], "\(fields)")
        }
        try expectEqual(fetch(server, "/app.js", ["Accept-Encoding: br", "If-None-Match: \(brTag)"]).status, 304)
        try expectEqual(
            fetch(server, "/app.js", ["Accept-Encoding: gzip", "If-None-Match: \(brTag)"]).status, 200,
            "the br tag does not validate the gzip representation")
        // A file without siblings does not vary.
        try expectEqual(fetch(server, "/plain.txt", ["Accept-Encoding: gzip, br"]).header("Vary"), nil)
    }

    @Test(arguments: ServerMode.all)
    func curlDecodesTheGzipSibling(_ mode: ServerMode) throws {
        let (server, _) = try startNegotiationSite(mode)
        let result = try curl(server, "/only-gz.css", ["-sS", "--compressed", "-D", "-"])
        #expect(result.succeeded, "\(result)")
        #expect(result.standardOutput.lowercased().contains("content-encoding: gzip"), "\(result)")
        #expect(result.standardOutput.hasSuffix("p { margin: 0 }\n"), "\(result)")
    }

    @Test(arguments: ServerMode.all)
    func rangesAreOverTheEncodedBytes(_ mode: ServerMode) throws {
        let (server, gzip) = try startNegotiationSite(mode)
        let response = try fetch(server, "/app.js", ["Accept-Encoding: gzip", "Range: bytes=0-9"])
        #expect(response.status == 206)
        #expect(response.header("Content-Encoding") == "gzip")
        #expect(response.header("Content-Range") == "bytes 0-9/\(gzip.count)")
        #expect(response.body == Array(gzip[0..<10]))
    }

    @Test(arguments: ServerMode.all)
    func anOlderSiblingIsNotServed(_ mode: ServerMode) throws {
        let (server, _) = try startNegotiationSite(mode)
        let site = server.process.arguments[1]
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSince1970: 1_500_000_000)], ofItemAtPath: site + "/only-gz.css.gz")
        let response = try fetch(server, "/only-gz.css", ["Accept-Encoding: gzip"])
        #expect(response.header("Content-Encoding") == nil, "a sibling older than its file is stale")
        #expect(response.bodyText == "p { margin: 0 }\n")
        #expect(response.header("Vary") == nil)
    }

    @Test(arguments: ServerMode.all)
    func noPrecompressedServesTheFileOnly(_ mode: ServerMode) throws {
        let (server, _) = try startNegotiationSite(mode, ["--no-precompressed"])
        let response = try fetch(server, "/app.js", ["Accept-Encoding: gzip, br"])
        #expect(response.header("Content-Encoding") == nil)
        #expect(response.header("Vary") == nil)
        #expect(response.body == Self.script)
    }
}
