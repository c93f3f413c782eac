import Foundation
import XCTest

/// `raptor-ev serve DIR` on a directory made for the test, with a secret file next to it
/// (outside DIR) that no request may ever reach.
class StaticFileTestCase: ServerTestCase {
    static let secret = "TOP-SECRET-7f3a9c"
    static let modified = Date(timeIntervalSince1970: 1_577_934_245)  // Thu, 02 Jan 2020 03:04:05 GMT
    static let files: [String: String] = [
        "index.html": "<!doctype html>\n<title>home</title>\n<h1>home</h1>\n",
        "hello.txt": "hello, static world\n",
        "style.css": "body { color: black; }\n",
        "data.json": "{\"a\": 1}\n",
        "docs/index.html": "<p>docs</p>\n",
        "a/b": "file b\n",
    ]

    /// Builds root/site (served) and root/secret (not), with symlinks inside site that
    /// point outside it; returns the site's path.
    func makeSite() throws -> String {
        let root = try makeTemporaryDirectory()
        let site = root.appendingPathComponent("site")
        let manager = FileManager.default
        try manager.createDirectory(at: site, withIntermediateDirectories: true)
        try Self.secret.write(to: root.appendingPathComponent("secret"), atomically: true, encoding: .utf8)
        for (path, content) in Self.files {
            let url = site.appendingPathComponent(path)
            try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: url, atomically: true, encoding: .utf8)
            try manager.setAttributes([.modificationDate: Self.modified], ofItemAtPath: url.path)
        }
        try Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]).write(
            to: site.appendingPathComponent("image.png"))
        try manager.createSymbolicLink(
            atPath: site.appendingPathComponent("link-outside").path, withDestinationPath: "../secret")
        try manager.createSymbolicLink(
            atPath: site.appendingPathComponent("link-absolute").path,
            withDestinationPath: root.appendingPathComponent("secret").path)
        try manager.createSymbolicLink(atPath: site.appendingPathComponent("link-dir").path, withDestinationPath: "..")
        return site.path
    }

    func startSite() throws -> ServerProcess {
        try startStaticServer(directory: try makeSite())
    }

    func getFileWithTypeLengthAndLastModified() throws {
        let server = try startSite()
        let client = try connect(server)
        let expectations: [(String, String)] = [
            ("/hello.txt", "text/plain"), ("/index.html", "text/html"), ("/style.css", "text/css"),
            ("/data.json", "application/json"), ("/image.png", "image/png"),
        ]
        for (path, type) in expectations {
            try client.send(Requests.get(path))
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 200, path)
            let contentType = response.header("Content-Type") ?? ""
            XCTAssertTrue(contentType.hasPrefix(type), "\(path): Content-Type \(contentType.debugDescription)")
            XCTAssertEqual(response.header("Content-Length"), String(response.body.count), path)
            if let content = Self.files[String(path.dropFirst())] {
                XCTAssertEqual(response.bodyText, content, path)
                XCTAssertEqual(response.header("Last-Modified"), "Thu, 02 Jan 2020 03:04:05 GMT", path)
            }
        }
    }

    func headOfFileHasHeadersAndNoBody() throws {
        let server = try startSite()
        let client = try connect(server)
        try client.send(Requests.head("/hello.txt") + Requests.get("/hello.txt"))
        let head = try client.readResponse(to: "HEAD")
        let get = try client.readResponse()
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(get.bodyText, Self.files["hello.txt"])
        XCTAssertEqual(head.header("Content-Length"), String(Self.files["hello.txt"]!.utf8.count))
        XCTAssertEqual(head.header("Content-Type"), get.header("Content-Type"))
        XCTAssertEqual(head.header("Last-Modified"), get.header("Last-Modified"))
    }

    func ifModifiedSinceGets304() throws {
        let server = try startSite()
        let client = try connect(server)
        try client.send(Requests.get("/hello.txt", "If-Modified-Since: Thu, 02 Jan 2020 03:04:05 GMT\r\n"))
        let notModified = try client.readResponse()
        XCTAssertEqual(notModified.status, 304, notModified.statusLine)
        XCTAssertTrue(notModified.body.isEmpty)
        try client.send(Requests.get("/hello.txt", "If-Modified-Since: Wed, 01 Jan 2020 00:00:00 GMT\r\n"))
        let modified = try client.readResponse()
        XCTAssertEqual(modified.status, 200, "modified since an earlier date")
        XCTAssertEqual(modified.bodyText, Self.files["hello.txt"])
    }

    func directoryServesIndexHTML() throws {
        let server = try startSite()
        let root = try exchange(server, Requests.get("/"))
        XCTAssertEqual(root.status, 200)
        XCTAssertEqual(root.bodyText, Self.files["index.html"])
        XCTAssertTrue((root.header("Content-Type") ?? "").hasPrefix("text/html"))
        let docs = try exchange(server, Requests.get("/docs/"))
        XCTAssertEqual(docs.status, 200)
        XCTAssertEqual(docs.bodyText, Self.files["docs/index.html"])
    }

    func directoryWithoutSlashRedirects() throws {
        let server = try startSite()
        let response = try exchange(server, Requests.get("/docs"))
        XCTAssertEqual(response.status, 301)
        let location = response.header("Location") ?? ""
        XCTAssertTrue(location.hasSuffix("/docs/"), "Location: \(location.debugDescription)")
    }

    func missingFileGets404WithSmallBody() throws {
        let server = try startSite()
        let response = try exchange(server, Requests.get("/missing.txt"))
        XCTAssertEqual(response.status, 404)
        XCTAssertFalse(response.body.isEmpty, "a 404 says what happened")
        XCTAssertLessThan(response.body.count, 1024)
    }

    func postGets405WithAllow() throws {
        let server = try startSite()
        let response = try exchange(server, Requests.post("/hello.txt", body: "x"))
        XCTAssertEqual(response.status, 405)
        let allowed = response.tokens("Allow")
        XCTAssertTrue(allowed.contains("get") && allowed.contains("head"), "Allow: \(response.headers("Allow"))")
        XCTAssertFalse(allowed.contains("post"))
    }

    func traversalNeverEscapesTheDirectory() throws {
        let server = try startSite()
        // The file a/b exists: only an encoded slash makes /a%2fb differ from /a/b.
        XCTAssertEqual(try exchange(server, Requests.get("/a/b")).status, 200)
        let attempts = [
            "/../secret", "/%2e%2e/secret", "/%2E%2E%2Fsecret", "/a/../../secret", "/..%2fsecret", "/%00", "/a%2fb",
            "/link-outside", "/link-absolute", "/link-dir/secret", "/..", "/.%2e/secret", "/%2e%2e%5csecret",
            "/a/%2e%2e/%2e%2e/secret", "//../secret", "/a/b/../../../secret", "/./../secret", "/hello.txt%00.html",
            "/%252e%252e/secret", "/..;/secret", "/%c0%ae%c0%ae/secret",
        ]
        for target in attempts {
            let client = try connect(server)
            try client.send("GET \(target) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            let received: String
            var status = 0
            do {
                let response = try client.readResponse()
                status = response.status
                received = response.rawHead + response.bodyText
            } catch {
                XCTFail("\(target): no response: \(error)")
                continue
            }
            XCTAssertTrue(status == 400 || status == 404, "\(target) got \(status), not 400 or 404")
            XCTAssertFalse(received.contains(Self.secret), "\(target) served the secret file")
        }
    }
}

final class StaticFilePoolTests: StaticFileTestCase {
    override class var threads: Int { 5 }
    func testGetFileWithTypeLengthAndLastModified() throws { try getFileWithTypeLengthAndLastModified() }
    func testHeadOfFileHasHeadersAndNoBody() throws { try headOfFileHasHeadersAndNoBody() }
    func testIfModifiedSinceGets304() throws { try ifModifiedSinceGets304() }
    func testDirectoryServesIndexHTML() throws { try directoryServesIndexHTML() }
    func testDirectoryWithoutSlashRedirects() throws { try directoryWithoutSlashRedirects() }
    func testMissingFileGets404WithSmallBody() throws { try missingFileGets404WithSmallBody() }
    func testPostGets405WithAllow() throws { try postGets405WithAllow() }
    func testTraversalNeverEscapesTheDirectory() throws { try traversalNeverEscapesTheDirectory() }
}

final class StaticFileInlineTests: StaticFileTestCase {
    override class var threads: Int { 0 }
    func testGetFileWithTypeLengthAndLastModified() throws { try getFileWithTypeLengthAndLastModified() }
    func testHeadOfFileHasHeadersAndNoBody() throws { try headOfFileHasHeadersAndNoBody() }
    func testIfModifiedSinceGets304() throws { try ifModifiedSinceGets304() }
    func testDirectoryServesIndexHTML() throws { try directoryServesIndexHTML() }
    func testDirectoryWithoutSlashRedirects() throws { try directoryWithoutSlashRedirects() }
    func testMissingFileGets404WithSmallBody() throws { try missingFileGets404WithSmallBody() }
    func testPostGets405WithAllow() throws { try postGets405WithAllow() }
    func testTraversalNeverEscapesTheDirectory() throws { try traversalNeverEscapesTheDirectory() }
}
