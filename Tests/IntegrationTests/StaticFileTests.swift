import Foundation
import Testing

/// `raptor-ev serve DIR` on a directory made for the test, with a secret file next to it
/// (outside DIR) that no request may ever reach.
@Suite(.concurrent) final class StaticFileTests: ServerSuite {
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

    func startSite(_ mode: ServerMode) throws -> ServerProcess {
        try startStaticServer(mode, directory: try makeSite())
    }

    @Test(arguments: ServerMode.all)
    func getFileWithTypeLengthAndLastModified(_ mode: ServerMode) throws {
        let server = try startSite(mode)
        let client = try connect(server)
        let expectations: [(String, String)] = [
            ("/hello.txt", "text/plain"), ("/index.html", "text/html"), ("/style.css", "text/css"),
            ("/data.json", "application/json"), ("/image.png", "image/png"),
        ]
        for (path, type) in expectations {
            try client.send(Requests.get(path))
            let response = try client.readResponse()
            #expect(response.status == 200, "\(path)")
            let contentType = response.header("Content-Type") ?? ""
            #expect(contentType.hasPrefix(type), "\(path): Content-Type \(contentType.debugDescription)")
            #expect(response.header("Content-Length") == String(response.body.count), "\(path)")
            if let content = Self.files[String(path.dropFirst())] {
                #expect(response.bodyText == content, "\(path)")
                #expect(response.header("Last-Modified") == "Thu, 02 Jan 2020 03:04:05 GMT", "\(path)")
            }
        }
    }

    @Test(arguments: ServerMode.all)
    func headOfFileHasHeadersAndNoBody(_ mode: ServerMode) throws {
        let server = try startSite(mode)
        let client = try connect(server)
        try client.send(Requests.head("/hello.txt") + Requests.get("/hello.txt"))
        let head = try client.readResponse(to: "HEAD")
        let get = try client.readResponse()
        #expect(head.status == 200)
        #expect(get.bodyText == Self.files["hello.txt"])
        #expect(head.header("Content-Length") == String(Self.files["hello.txt"]!.utf8.count))
        #expect(head.header("Content-Type") == get.header("Content-Type"))
        #expect(head.header("Last-Modified") == get.header("Last-Modified"))
    }

    @Test(arguments: ServerMode.all)
    func ifModifiedSinceGets304(_ mode: ServerMode) throws {
        let server = try startSite(mode)
        let client = try connect(server)
        try client.send(Requests.get("/hello.txt", "If-Modified-Since: Thu, 02 Jan 2020 03:04:05 GMT\r\n"))
        let notModified = try client.readResponse()
        #expect(notModified.status == 304, "\(notModified.statusLine)")
        #expect(notModified.body.isEmpty)
        try client.send(Requests.get("/hello.txt", "If-Modified-Since: Wed, 01 Jan 2020 00:00:00 GMT\r\n"))
        let modified = try client.readResponse()
        #expect(modified.status == 200, "modified since an earlier date")
        #expect(modified.bodyText == Self.files["hello.txt"])
    }

    @Test(arguments: ServerMode.all)
    func directoryServesIndexHTML(_ mode: ServerMode) throws {
        let server = try startSite(mode)
        let root = try exchange(server, Requests.get("/"))
        #expect(root.status == 200)
        #expect(root.bodyText == Self.files["index.html"])
        #expect((root.header("Content-Type") ?? "").hasPrefix("text/html"))
        let docs = try exchange(server, Requests.get("/docs/"))
        #expect(docs.status == 200)
        #expect(docs.bodyText == Self.files["docs/index.html"])
    }

    @Test(arguments: ServerMode.all)
    func directoryWithoutSlashRedirects(_ mode: ServerMode) throws {
        let server = try startSite(mode)
        let response = try exchange(server, Requests.get("/docs"))
        #expect(response.status == 301)
        let location = response.header("Location") ?? ""
        #expect(location.hasSuffix("/docs/"), "Location: \(location.debugDescription)")
    }

    @Test(arguments: ServerMode.all)
    func missingFileGets404WithSmallBody(_ mode: ServerMode) throws {
        let server = try startSite(mode)
        let response = try exchange(server, Requests.get("/missing.txt"))
        #expect(response.status == 404)
        #expect(!response.body.isEmpty, "a 404 says what happened")
        #expect(response.body.count < 1024)
    }

    @Test(arguments: ServerMode.all)
    func postGets405WithAllow(_ mode: ServerMode) throws {
        let server = try startSite(mode)
        let response = try exchange(server, Requests.post("/hello.txt", body: "x"))
        #expect(response.status == 405)
        let allowed = response.tokens("Allow")
        #expect(allowed.contains("get") && allowed.contains("head"), "Allow: \(response.headers("Allow"))")
        #expect(!allowed.contains("post"))
    }

    @Test(arguments: ServerMode.all)
    func traversalNeverEscapesTheDirectory(_ mode: ServerMode) throws {
        let server = try startSite(mode)
        // The file a/b exists: only an encoded slash makes /a%2fb differ from /a/b.
        let status = try exchange(server, Requests.get("/a/b")).status
        #expect(status == 200)
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
                Issue.record("\(target): no response: \(error)")
                continue
            }
            #expect(status == 400 || status == 404, "\(target) got \(status), not 400 or 404")
            #expect(!received.contains(Self.secret), "\(target) served the secret file")
        }
    }
}
