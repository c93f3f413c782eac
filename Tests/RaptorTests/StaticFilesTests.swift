import Foundation
import HTTPTypes
import XCTest

@testable import Raptor

#if canImport(Glibc)
    import Glibc
#endif

/// The static file application without a server: path resolution, media types, HTTP
/// dates, and `respond(to: FileRequest)` on a real directory tree.
final class StaticFilesTests: XCTestCase {
    // MARK: - Path resolution

    func testResolvesOrdinaryPaths() {
        XCTAssertEqual(StaticFiles.resolve(path: "/"), .file("", trailingSlash: true))
        XCTAssertEqual(StaticFiles.resolve(path: "/a.txt"), .file("a.txt", trailingSlash: false))
        XCTAssertEqual(StaticFiles.resolve(path: "/a/b/c.css"), .file("a/b/c.css", trailingSlash: false))
        XCTAssertEqual(StaticFiles.resolve(path: "/docs/"), .file("docs", trailingSlash: true))
        XCTAssertEqual(StaticFiles.resolve(path: "/a%20b.txt"), .file("a b.txt", trailingSlash: false))
        XCTAssertEqual(StaticFiles.resolve(path: "/caf%C3%A9"), .file("café", trailingSlash: false))
        XCTAssertEqual(StaticFiles.resolve(path: "/a+b"), .file("a+b", trailingSlash: false))
        // Names that merely contain dots are names.
        XCTAssertEqual(StaticFiles.resolve(path: "/..."), .file("...", trailingSlash: false))
        XCTAssertEqual(StaticFiles.resolve(path: "/..a/b.."), .file("..a/b..", trailingSlash: false))
        XCTAssertEqual(StaticFiles.resolve(path: "/.well-known/x"), .file(".well-known/x", trailingSlash: false))
        // Double encoding is decoded once: the file is literally named "%2e".
        XCTAssertEqual(StaticFiles.resolve(path: "/%252e"), .file("%2e", trailingSlash: false))
        XCTAssertEqual(StaticFiles.resolve(path: "/%252e%252e/x"), .file("%2e%2e/x", trailingSlash: false))
    }

    func testNormalisesEmptyAndDotSegments() {
        XCTAssertEqual(StaticFiles.resolve(path: "//a//b//"), .file("a/b", trailingSlash: true))
        XCTAssertEqual(StaticFiles.resolve(path: "/./a/./b"), .file("a/b", trailingSlash: false))
        XCTAssertEqual(StaticFiles.resolve(path: "/a/."), .file("a", trailingSlash: false))
        XCTAssertEqual(StaticFiles.resolve(path: "/%2e/a/%2E/"), .file("a", trailingSlash: true))
        XCTAssertEqual(StaticFiles.resolve(path: "/."), .file("", trailingSlash: false))
        XCTAssertEqual(StaticFiles.resolve(path: "/./"), .file("", trailingSlash: true))
    }

    func testRefusesEveryDotDotSegmentWith404() {
        for path in [
            "/..", "/../", "/../etc/passwd", "/a/../../x", "/a/../b", "/a/..", "/%2e%2e/", "/%2E%2E",
            "/.%2e/x", "/%2e./x", "/a/%2e%2e/%2e%2e/etc/passwd", "/../%00",
        ] {
            XCTAssertEqual(StaticFiles.resolve(path: path), .notFound, path)
        }
    }

    func testRefusesEncodedSeparatorsNulAndBadEscapesWith400() {
        for path in [
            "/%2E%2E%2Fetc", "/..%2f", "/..%2F..%2Fetc%2Fpasswd", "/a%2fb", "/a%2Fb", "/%00", "/a%00.html",
            "/a\\b", "/%5c..%5cx", "/..\\x", "/%", "/%4", "/%zz", "/%g0", "/a%2", "/%ff", "/%C3",
            "", "a.txt", "*", "../x", "ftp://host/x",
        ] {
            XCTAssertEqual(StaticFiles.resolve(path: path), .badRequest, path)
        }
    }

    func testAcceptsAbsoluteFormTargets() {
        XCTAssertEqual(StaticFiles.resolve(path: "http://example.com/a.txt"), .file("a.txt", trailingSlash: false))
        XCTAssertEqual(StaticFiles.resolve(path: "HTTPS://example.com/d/"), .file("d", trailingSlash: true))
        XCTAssertEqual(StaticFiles.resolve(path: "http://example.com"), .file("", trailingSlash: true))
        XCTAssertEqual(StaticFiles.resolve(path: "http://example.com/../x"), .notFound)
    }

    func testDirectoryLocation() {
        XCTAssertEqual(StaticFiles.directoryLocation(path: "/docs", query: nil), "/docs/")
        XCTAssertEqual(StaticFiles.directoryLocation(path: "/docs", query: "a=1&b"), "/docs/?a=1&b")
        XCTAssertEqual(StaticFiles.directoryLocation(path: "/docs", query: ""), "/docs/?")
        XCTAssertEqual(StaticFiles.directoryLocation(path: "/my%20docs", query: nil), "/my%20docs/")
        // Never a network-path reference ("//host/..."): that would redirect to another site.
        XCTAssertEqual(StaticFiles.directoryLocation(path: "//evil.example", query: nil), "/evil.example/")
        XCTAssertEqual(StaticFiles.directoryLocation(path: "///evil.example/x", query: nil), "/evil.example/x/")
        XCTAssertEqual(StaticFiles.directoryLocation(path: "http://host/d", query: "q"), "/d/?q")
    }

    // MARK: - Media types

    func testMediaTypes() {
        XCTAssertEqual(MediaTypes.forFileName("index.html"), "text/html; charset=utf-8")
        XCTAssertEqual(MediaTypes.forFileName("a/b/INDEX.HTM"), "text/html; charset=utf-8")
        XCTAssertEqual(MediaTypes.forFileName("style.css"), "text/css; charset=utf-8")
        XCTAssertEqual(MediaTypes.forFileName("app.js"), "text/javascript; charset=utf-8")
        XCTAssertEqual(MediaTypes.forFileName("app.mjs"), "text/javascript; charset=utf-8")
        XCTAssertEqual(MediaTypes.forFileName("notes.txt"), "text/plain; charset=utf-8")
        XCTAssertEqual(MediaTypes.forFileName("README.md"), "text/markdown; charset=utf-8")
        XCTAssertEqual(MediaTypes.forFileName("data.csv"), "text/csv; charset=utf-8")
        XCTAssertEqual(MediaTypes.forFileName("data.json"), "application/json")
        XCTAssertEqual(MediaTypes.forFileName("feed.xml"), "application/xml")
        XCTAssertEqual(MediaTypes.forFileName("logo.svg"), "image/svg+xml")
        XCTAssertEqual(MediaTypes.forFileName("a.png"), "image/png")
        XCTAssertEqual(MediaTypes.forFileName("a.jpg"), "image/jpeg")
        XCTAssertEqual(MediaTypes.forFileName("a.JPEG"), "image/jpeg")
        XCTAssertEqual(MediaTypes.forFileName("a.gif"), "image/gif")
        XCTAssertEqual(MediaTypes.forFileName("a.webp"), "image/webp")
        XCTAssertEqual(MediaTypes.forFileName("a.avif"), "image/avif")
        XCTAssertEqual(MediaTypes.forFileName("favicon.ico"), "image/x-icon")
        XCTAssertEqual(MediaTypes.forFileName("m.wasm"), "application/wasm")
        XCTAssertEqual(MediaTypes.forFileName("doc.pdf"), "application/pdf")
        XCTAssertEqual(MediaTypes.forFileName("a.zip"), "application/zip")
        XCTAssertEqual(MediaTypes.forFileName("a.tar.gz"), "application/gzip")
        XCTAssertEqual(MediaTypes.forFileName("v.mp4"), "video/mp4")
        XCTAssertEqual(MediaTypes.forFileName("v.webm"), "video/webm")
        XCTAssertEqual(MediaTypes.forFileName("s.mp3"), "audio/mpeg")
        XCTAssertEqual(MediaTypes.forFileName("f.woff"), "font/woff")
        XCTAssertEqual(MediaTypes.forFileName("f.woff2"), "font/woff2")
        XCTAssertEqual(MediaTypes.forFileName("f.ttf"), "font/ttf")
        XCTAssertEqual(MediaTypes.forFileName("f.otf"), "font/otf")
        XCTAssertEqual(MediaTypes.forExtension("HTML"), "text/html; charset=utf-8")
        XCTAssertNil(MediaTypes.forExtension("exe"))
    }

    func testUnknownOrMissingExtensionIsOctetStream() {
        for name in ["a.exe", "Makefile", ".profile", "dir.d/file", "a.", "a.html/b", "a.verylongextension"] {
            XCTAssertEqual(MediaTypes.forFileName(name), "application/octet-stream", name)
        }
    }

    // MARK: - HTTP dates

    func testFormatsIMFFixdate() {
        XCTAssertEqual(HTTPDate.format(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT")
        XCTAssertEqual(HTTPDate.format(0), "Thu, 01 Jan 1970 00:00:00 GMT")
        XCTAssertEqual(HTTPDate.format(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT")
        XCTAssertEqual(HTTPDate.format(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT")
        XCTAssertEqual(HTTPDate.format(-1), "Wed, 31 Dec 1969 23:59:59 GMT")
        XCTAssertEqual(HTTPDate.format(4_102_444_800), "Fri, 01 Jan 2100 00:00:00 GMT")
        XCTAssertEqual(HTTPDate.format(Int.max), "Fri, 31 Dec 9999 23:59:59 GMT")
        XCTAssertEqual(HTTPDate.format(Int.min), "Sat, 01 Jan 0000 00:00:00 GMT")
    }

    func testParsesAllThreeForms() {
        XCTAssertEqual(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT"), 784_111_777)
        XCTAssertEqual(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT"), 784_111_777)
        XCTAssertEqual(HTTPDate.parse("Sun Nov  6 08:49:37 1994"), 784_111_777)
        XCTAssertEqual(HTTPDate.parse("Sun Nov 16 08:49:37 1994"), 784_111_777 + 10 * 86_400)
        // The weekday is not checked against the date.
        XCTAssertEqual(HTTPDate.parse("Mon, 06 Nov 1994 08:49:37 GMT"), 784_111_777)
        XCTAssertEqual(HTTPDate.parse("Tue, 29 Feb 2000 00:00:00 GMT"), 951_782_400)
        // A leap second counts as the next minute's first.
        XCTAssertEqual(HTTPDate.parse("Sat, 31 Dec 2016 23:59:60 GMT"), 1_483_228_800)
    }

    func testRejectsMalformedDates() {
        for text in [
            "", "garbage", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 gmt",
            "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT", "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT ", " Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:61 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 29 Feb 1900 00:00:00 GMT", "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37", "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov +994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun, 06-Nov-94 08:49:37 GMT", "Sunday, 6-Nov-94 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994", "Sun Nov  6 08:49:37 94", "Sun Nov  6 08:49:37 1994 GMT",
            "1994-11-06T08:49:37Z", "784111777",
        ] {
            XCTAssertNil(HTTPDate.parse(text), text)
        }
    }

    func testRoundTrips() {
        // Every third day from 1900 to 2200 at a time that moves through the day, and the edges.
        var seconds = -2_208_988_800
        while seconds < 7_258_118_400 {
            XCTAssertEqual(HTTPDate.parse(HTTPDate.format(seconds)), seconds, "\(seconds)")
            seconds += 3 * 86_400 + 3_607
        }
        for seconds in [0, 1, 59, 86_399, 86_400, 951_868_799, 951_868_800, 253_402_300_799] {
            XCTAssertEqual(HTTPDate.parse(HTTPDate.format(seconds)), seconds, "\(seconds)")
        }
    }

    func testRFC850TwoDigitYearsLookAtMostFiftyYearsAhead() throws {
        let now = try XCTUnwrap(HTTPDate.parse("Sat, 01 Jan 2026 00:00:00 GMT"))
        func year(_ twoDigits: String) -> String? {
            HTTPDate.parse("Monday, 01-Jan-\(twoDigits) 00:00:00 GMT", now: now).map {
                String(HTTPDate.format($0).dropFirst(12).prefix(4))
            }
        }
        XCTAssertEqual(year("94"), "1994")
        XCTAssertEqual(year("26"), "2026")
        XCTAssertEqual(year("76"), "2076")
        XCTAssertEqual(year("77"), "1977")
        XCTAssertEqual(year("00"), "2000")
        let later = try XCTUnwrap(HTTPDate.parse("Sat, 01 Jan 2090 00:00:00 GMT"))
        XCTAssertEqual(
            HTTPDate.parse("Monday, 01-Jan-10 00:00:00 GMT", now: later),
            HTTPDate.parse("Sat, 01 Jan 2110 00:00:00 GMT"))
    }

    // MARK: - Configuration

    func testInitRefusesAMissingDirectory() {
        XCTAssertThrowsError(try StaticFiles(root: "/nonexistent/raptor-static-files")) { error in
            guard case RaptorError.invalidConfiguration(let option, let message) = error else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(option, "DIR")
            XCTAssertEqual(message, "'/nonexistent/raptor-static-files' does not exist")
        }
    }

    func testInitRefusesAFile() throws {
        let tree = try Tree()
        XCTAssertThrowsError(try StaticFiles(root: tree.path + "/www/a.txt")) { error in
            XCTAssertEqual(
                error as? RaptorError,
                .invalidConfiguration(option: "DIR", message: "'\(tree.path)/www/a.txt' is not a directory"))
        }
    }

    func testInitResolvesTheRootWithRealpath() throws {
        let tree = try Tree()
        let files = try StaticFiles(root: tree.path + "/linked-root/./")
        XCTAssertEqual(files.rootPath, tree.path + "/site")
        XCTAssertEqual(
            try Served(files.respond(to: .init(method: .get, path: "/a.txt"))).body,
            "site file\n")
    }

    // MARK: - Serving a tree

    func testServesAFile() throws {
        let tree = try Tree()
        let served = try Served(tree.get("/a.txt"))
        XCTAssertEqual(served.status, 200)
        XCTAssertEqual(served.body, "hello\n")
        XCTAssertEqual(served.headers[.contentType], "text/plain; charset=utf-8")
        XCTAssertEqual(served.headers[.lastModified], "Sun, 09 Sep 2001 01:46:40 GMT")
        XCTAssertEqual(try Served(tree.get("/style.css")).headers[.contentType], "text/css; charset=utf-8")
        XCTAssertEqual(try Served(tree.get("/blob")).headers[.contentType], "application/octet-stream")
        XCTAssertEqual(try Served(tree.get("/empty.txt")).status, 200)
        XCTAssertEqual(try Served(tree.get("/empty.txt")).body, "")
        XCTAssertEqual(try Served(tree.get("/a%20b.txt")).body, "spaced\n")
        XCTAssertEqual(try Served(tree.get("/%252e%252e")).body, "literal\n", "the file named %2e%2e")
    }

    func testHeadGetsTheFileBodyForItsLength() throws {
        let tree = try Tree()
        // The engine sends no body for HEAD but takes the Content-Length from it: a small
        // file's cached bytes, a larger one's region.
        let response = tree.files.respond(to: .init(method: .head, path: "/a.txt"))
        guard case .bytes(let bytes) = response.body else { return XCTFail("HEAD body: \(response.body)") }
        XCTAssertEqual(bytes.count, 6)
        let large = tree.files.respond(to: .init(method: .head, path: "/large.bin"))
        guard case .file(let region) = large.body else { return XCTFail("HEAD body: \(large.body)") }
        XCTAssertEqual(region.length, 100_000)  // the region closes its descriptor when dropped
    }

    func testOtherMethodsGet405() throws {
        let tree = try Tree()
        for method in [HTTPRequest.Method.post, .put, .delete, .options, .patch, .trace, .connect] {
            let served = try Served(
                tree.files.respond(to: .init(method: method, path: "/a.txt")))
            XCTAssertEqual(served.status, 405)
            XCTAssertEqual(served.headers[.allow], "GET, HEAD")
        }
    }

    func testMissingFilesAndNonRegularFilesGet404() throws {
        let tree = try Tree()
        for path in [
            "/missing", "/missing/", "/a.txt/", "/a.txt/x", "/fifo", "/dev-null", "/empty/", "/loop", "/dangling",
        ] {
            let served = try Served(tree.get(path))
            XCTAssertEqual(served.status, 404, path)
            XCTAssertEqual(served.body, "Not Found\n", path)
            XCTAssertEqual(served.headers[.contentType], "text/plain; charset=utf-8", path)
        }
    }

    func testDirectoriesRedirectToTheSlashThenServeTheirIndex() throws {
        let tree = try Tree()
        var served = try Served(tree.get("/sub"))
        XCTAssertEqual(served.status, 301)
        XCTAssertEqual(served.headers[.location], "/sub/")
        served = try Served(tree.files.respond(to: .init(method: .get, path: "/sub", query: "x=1&y")))
        XCTAssertEqual(served.headers[.location], "/sub/?x=1&y")
        served = try Served(tree.get("//sub"))
        XCTAssertEqual(served.headers[.location], "/sub/")
        served = try Served(tree.get("/sub/"))
        XCTAssertEqual(served.status, 200)
        XCTAssertEqual(served.body, "<p>sub</p>\n")
        XCTAssertEqual(served.headers[.contentType], "text/html; charset=utf-8")
        XCTAssertEqual(try Served(tree.get("/")).body, "<p>root</p>\n")
        XCTAssertEqual(try Served(tree.get("/sub/index.html")).body, "<p>sub</p>\n")
        // The root without its slash: only reachable as "/.", redirected to "/./".
        XCTAssertEqual(try Served(tree.get("/.")).headers[.location], "/./")
        // An index.html that is a directory is no index.
        XCTAssertEqual(try Served(tree.get("/odd/")).status, 404)
    }

    func testSymlinksInsideTheRootAreFollowed() throws {
        let tree = try Tree()
        XCTAssertEqual(try Served(tree.get("/link.txt")).body, "hello\n")
        XCTAssertEqual(try Served(tree.get("/alias")).headers[.location], "/alias/")
        XCTAssertEqual(try Served(tree.get("/alias/")).body, "<p>sub</p>\n")
        XCTAssertEqual(try Served(tree.get("/absolute-inside.txt")).body, "hello\n")
        XCTAssertEqual(try Served(tree.get("/sub/up.txt")).body, "hello\n", "a relative ../ link that stays inside")
    }

    func testSymlinksLeavingTheRootGet404() throws {
        let tree = try Tree()
        for path in [
            "/etc", "/etc/", "/etc/passwd", "/etc/hostname", "/passwd", "/outside.txt", "/outside-dir/",
            "/outside-dir/secret.txt", "/sibling.txt", "/sub/escape/secret.txt",
        ] {
            XCTAssertEqual(try Served(tree.get(path)).status, 404, path)
        }
    }

    func testIfModifiedSince() throws {
        let tree = try Tree()
        let modified = 1_000_000_000
        func get(_ since: String?) throws -> Served {
            try Served(tree.files.respond(to: .init(method: .get, path: "/a.txt", ifModifiedSince: since)))
        }
        var served = try get(HTTPDate.format(modified))
        XCTAssertEqual(served.status, 304)
        XCTAssertEqual(served.body, "")
        XCTAssertEqual(served.headers[.lastModified], HTTPDate.format(modified))
        XCTAssertEqual(try get(HTTPDate.format(modified + 3600)).status, 304)
        XCTAssertEqual(try get("Sunday, 09-Sep-01 01:46:40 GMT").status, 304)
        XCTAssertEqual(try get("Sun Sep  9 01:46:40 2001").status, 304)
        served = try get(HTTPDate.format(modified - 1))
        XCTAssertEqual(served.status, 200)
        XCTAssertEqual(served.body, "hello\n")
        XCTAssertEqual(try get("yesterday").status, 200)
        XCTAssertEqual(try get("").status, 200)
        // HEAD follows the same rule.
        let head = try Served(
            tree.files.respond(to: .init(method: .head, path: "/a.txt", ifModifiedSince: HTTPDate.format(modified))))
        XCTAssertEqual(head.status, 304)
    }

    func testAFutureModificationTimeIsAdvertisedAsNow() throws {
        let tree = try Tree()
        let before = Int(time(nil))
        let served = try Served(tree.get("/future.txt"))
        let advertised = try XCTUnwrap(served.headers[.lastModified].flatMap { HTTPDate.parse($0) })
        XCTAssertGreaterThanOrEqual(advertised, before)
        XCTAssertLessThanOrEqual(advertised, Int(time(nil)))
    }

    func testServingTheFilesystemRootAdmitsEverything() throws {
        // The prefix check must not turn "/" into "//" and refuse all.
        let tree = try Tree()
        let files = try StaticFiles(root: "/")
        let served = try Served(
            files.respond(to: .init(method: .get, path: tree.path + "/www/a.txt")))
        XCTAssertEqual(served.body, "hello\n")
        XCTAssertEqual(
            try Served(files.respond(to: .init(method: .get, path: tree.path))).status, 301)
    }
}

// MARK: - Helpers

/// A response with a file body read into memory, and its descriptor closed.
private struct Served {
    var status: Int
    var headers: ResponseFields
    var body: String

    init(_ response: Response) throws {
        status = response.status.code
        headers = response.headers
        switch response.body {
        case .empty: body = ""
        case .string(let text): body = text
        case .bytes(let bytes): body = String(decoding: bytes, as: UTF8.self)
        case .fileParts:
            throw TreeError("unexpected multipart body")
        case .file(let region):
            // Taken as the engine takes it to send, and closed as it closes it.
            let descriptor = region.descriptor.take()!
            defer { close(descriptor) }
            var bytes = [UInt8](repeating: 0, count: Int(region.length))
            let got = bytes.withUnsafeMutableBytes {
                pread(descriptor, $0.baseAddress, $0.count, off_t(region.offset))
            }
            XCTAssertEqual(got, bytes.count)
            body = String(decoding: bytes, as: UTF8.self)
        case .stream, .asyncStream: throw TreeError("unexpected streamed body")
        }
    }
}

private struct TreeError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A temporary directory, removed when the value goes away:
///
///     outside.txt  outside-dir/secret.txt  www-private/secret.txt  site/a.txt
///     linked-root -> site
///     www/  (the served root)
///         index.html  a.txt (mtime 1000000000)  a b.txt  %2e%2e  style.css  blob  empty.txt  large.bin (100,000 zero bytes)
///         future.txt (mtime in 2100)  fifo  dev-null -> /dev/null  loop -> loop
///         dangling -> nowhere  empty/  odd/index.html/  sub/index.html
///         sub/up.txt -> ../a.txt  sub/escape -> ../../outside-dir  link.txt -> a.txt
///         alias -> sub  absolute-inside.txt -> <absolute path of www/a.txt>
///         etc -> /etc  passwd -> /etc/passwd  outside.txt -> ../outside.txt
///         outside-dir -> ../outside-dir  sibling.txt -> ../www-private/secret.txt
private final class Tree {
    let path: String
    let files: StaticFiles

    init() throws {
        var template = Array("/tmp/raptor-static-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TreeError("mkdtemp failed")
        }
        path = String(cString: made)
        let www = path + "/www"
        for directory in ["www", "outside-dir", "www-private", "site", "www/empty", "www/odd/index.html", "www/sub"] {
            try FileManager.default.createDirectory(atPath: path + "/" + directory, withIntermediateDirectories: true)
        }
        let contents = [
            "outside.txt": "outside\n", "outside-dir/secret.txt": "secret\n", "www-private/secret.txt": "secret\n",
            "site/a.txt": "site file\n", "www/index.html": "<p>root</p>\n", "www/a.txt": "hello\n",
            "www/a b.txt": "spaced\n", "www/%2e%2e": "literal\n", "www/style.css": "p {}\n", "www/blob": "?",
            "www/empty.txt": "", "www/future.txt": "later\n", "www/sub/index.html": "<p>sub</p>\n",
        ]
        for (name, text) in contents {
            guard FileManager.default.createFile(atPath: path + "/" + name, contents: Data(text.utf8)) else {
                throw TreeError("cannot create \(name)")
            }
        }
        let links = [
            "linked-root": "site", "www/dev-null": "/dev/null", "www/loop": "loop", "www/dangling": "nowhere",
            "www/sub/up.txt": "../a.txt", "www/sub/escape": "../../outside-dir", "www/link.txt": "a.txt",
            "www/alias": "sub", "www/absolute-inside.txt": www + "/a.txt", "www/etc": "/etc",
            "www/passwd": "/etc/passwd", "www/outside.txt": "../outside.txt", "www/outside-dir": "../outside-dir",
            "www/sibling.txt": "../www-private/secret.txt",
        ]
        for (name, target) in links {
            try FileManager.default.createSymbolicLink(atPath: path + "/" + name, withDestinationPath: target)
        }
        guard FileManager.default.createFile(atPath: www + "/large.bin", contents: Data(count: 100_000)) else {
            throw TreeError("cannot create large.bin")
        }
        guard mkfifo(www + "/fifo", 0o644) == 0 else { throw TreeError("mkfifo failed") }
        try Self.setModificationTime(www + "/a.txt", 1_000_000_000)
        try Self.setModificationTime(www + "/future.txt", 4_102_444_800)
        files = try StaticFiles(root: www)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func get(_ target: String) -> Response {
        files.respond(to: .init(method: .get, path: target))
    }

    private static func setModificationTime(_ file: String, _ seconds: Int) throws {
        let times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
        guard utimensat(AT_FDCWD, file, times, 0) == 0 else { throw TreeError("utimensat \(file) failed") }
    }
}
