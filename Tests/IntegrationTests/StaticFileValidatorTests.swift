import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Validators and conditional requests on `raptor-ev serve` (RFC 9110 sections 8.8 and
/// 13): Last-Modified never later than Date, strong ETags that change with the file,
/// If-None-Match and If-Modified-Since (304 with the 200's validators and caching fields),
/// If-Match and If-Unmodified-Since (412), and the precedence of section 13.2.2.
@Suite(.concurrent) final class StaticFileValidatorTests: StaticSiteSuite {
    static let page = Array("<!doctype html>\n<p>validators</p>\n".utf8)

    /// Section 8.8.2.1: a file written in the second of the request has the Last-Modified
    /// of that second, never one later than the response's Date. (Needs a Date that is the
    /// current second: with a Date that lags the clock, the clamp makes Last-Modified an
    /// earlier second than the file's own, which this test also refuses.)
    @Test(arguments: ServerMode.all)
    func lastModifiedIsNeverLaterThanDate(_ mode: ServerMode) throws {
        let site = try makeSite([:])
        let server = try startStaticServer(mode, directory: site)
        for index in 0..<6 {
            let path = site + "/new-\(index).txt"
            try Data("written now \(index)\n".utf8).write(to: URL(fileURLWithPath: path))
            var status = stat()
            #expect(stat(path, &status) == 0)
            let response = try fetch(server, "/new-\(index).txt")
            #expect(response.status == 200)
            guard let lastModified = dateField(response, "Last-Modified"), let date = dateField(response, "Date")
            else { continue }
            #expect(lastModified <= date, "Last-Modified later than Date: \(response.rawHead)")
            #expect(
                lastModified == Int(status.st_mtim.tv_sec),
                "Last-Modified is not the file's modification second (is Date behind the clock?): \(response.rawHead)")
            usleep(170_000)  // spread the files over the second
        }
    }

    @Test(arguments: ServerMode.all)
    func etagIsStrongStableAndChangesWithTheFile(_ mode: ServerMode) throws {
        let site = try makeSite(["page.html": Self.page])
        let server = try startStaticServer(mode, directory: site)
        let first = try fetch(server, "/page.html")
        let etag = try #require(first.header("ETag"), "\(first.rawHead)")
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""), "a strong tag: \(etag)")
        try expectEqual(fetch(server, "/page.html").header("ETag"), etag, "the same file, the same tag")
        try expectEqual(fetch(server, "/page.html", method: "HEAD").header("ETag"), etag)
        // The same size, another content and modification time: another tag.
        var changed = Self.page
        changed[changed.count - 2] = UInt8(ascii: "!")
        try Data(changed).write(to: URL(fileURLWithPath: site + "/page.html"))
        var latest: HTTPResponseMessage?
        #expect(
            try waitUntil(timeout: 5, interval: 0.05) {
                latest = try fetch(server, "/page.html")
                return latest?.body == changed
            }, "the modified file was not served within 5 s")
        #expect(latest?.header("ETag") != etag, "a new version needs a new tag")
    }

    @Test(arguments: ServerMode.all)
    func ifNoneMatchGets304WithTheValidatorsAndCachingFieldsOfThe200(_ mode: ServerMode) throws {
        let site = try makeSite(["page.html": Self.page, "app.js": Array("let x = 1\n".utf8), "app.js.gz": [1, 2, 3]])
        let server = try startStaticServer(mode, directory: site, ["--cache-control", "public, max-age=60"])
        for (path, acceptEncoding) in [("/page.html", nil), ("/app.js", nil), ("/app.js", "gzip")]
            as [(String, String?)]
        {
            let fields = acceptEncoding.map { ["Accept-Encoding: \($0)"] } ?? []
            let full = try fetch(server, path, fields)
            #expect(full.status == 200)
            let etag = try #require(full.header("ETag"))
            for condition in [etag, "W/\(etag)", "\"other\", \(etag)", "*"] {
                for method in ["GET", "HEAD"] {
                    let response = try fetch(server, path, fields + ["If-None-Match: \(condition)"], method: method)
                    #expect(response.status == 304, "\(method) \(path) If-None-Match: \(condition)")
                    #expect(response.body.isEmpty)
                    for name in ["ETag", "Last-Modified", "Cache-Control", "Vary"] {
                        #expect(response.header(name) == full.header(name), "\(name) of the 304 to \(path)")
                    }
                }
            }
            let other = try fetch(server, path, fields + ["If-None-Match: \"other\""])
            #expect(other.status == 200)
            #expect(other.body == full.body)
        }
    }

    @Test(arguments: ServerMode.all)
    func ifModifiedSinceGets304UnlessModifiedLater(_ mode: ServerMode) throws {
        let server = try startStaticServer(mode, directory: try makeSite(["page.html": Self.page]))
        try expectEqual(fetch(server, "/page.html", ["If-Modified-Since: \(Self.modifiedText)"]).status, 304)
        try expectEqual(fetch(server, "/page.html", ["If-Modified-Since: Fri, 03 Jan 2020 00:00:00 GMT"]).status, 304)
        try expectEqual(fetch(server, "/page.html", ["If-Modified-Since: Thu, 02 Jan 2020 03:04:04 GMT"]).status, 200)
        try expectEqual(fetch(server, "/page.html", ["If-Modified-Since: not a date"]).status, 200)
    }

    @Test(arguments: ServerMode.all)
    func ifMatchAndIfUnmodifiedSinceGet412WhenFalse(_ mode: ServerMode) throws {
        let server = try startStaticServer(mode, directory: try makeSite(["page.html": Self.page]))
        let etag = try #require(try fetch(server, "/page.html").header("ETag"))
        let cases: [([String], Int)] = [
            (["If-Match: \(etag)"], 200), (["If-Match: *"], 200), (["If-Match: \"other\", \(etag)"], 200),
            (["If-Match: \"other\""], 412), (["If-Match: W/\(etag)"], 412),
            (["If-Unmodified-Since: \(Self.modifiedText)"], 200),
            (["If-Unmodified-Since: Wed, 01 Jan 2020 00:00:00 GMT"], 412),
            (["If-Unmodified-Since: garbage"], 200),
        ]
        for (fields, status) in cases {
            let response = try fetch(server, "/page.html", fields)
            #expect(response.status == status, "\(fields)")
            if status == 412 { #expect(!response.bodyText.contains("validators"), "no content with a 412") }
        }
        try expectEqual(fetch(server, "/missing.html", ["If-Match: *"]).status, 404)
    }

    /// Section 13.2.2: If-Match, then If-Unmodified-Since, then If-None-Match, then
    /// If-Modified-Since; a failed precondition (412) wins over not modified (304).
    @Test(arguments: ServerMode.all)
    func preconditionsAreEvaluatedInTheOrderOfSection13_2_2(_ mode: ServerMode) throws {
        let server = try startStaticServer(mode, directory: try makeSite(["page.html": Self.page]))
        let etag = try #require(try fetch(server, "/page.html").header("ETag"))
        let earlier = "Wed, 01 Jan 2020 00:00:00 GMT"
        let later = "Fri, 03 Jan 2020 00:00:00 GMT"
        let cases: [([String], Int)] = [
            (["If-None-Match: \(etag)", "If-Modified-Since: \(earlier)"], 304),
            (["If-None-Match: \"other\"", "If-Modified-Since: \(later)"], 200),
            (["If-Match: \"other\"", "If-None-Match: \(etag)"], 412),
            (["If-Unmodified-Since: \(earlier)", "If-None-Match: \(etag)"], 412),
            (["If-Match: \(etag)", "If-Unmodified-Since: \(earlier)"], 200),
            (["If-Match: \(etag)", "If-None-Match: \(etag)"], 304),
        ]
        for (fields, status) in cases {
            try expectEqual(fetch(server, "/page.html", fields).status, status, "\(fields)")
        }
    }
}
