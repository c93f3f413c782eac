import Foundation
import Testing

/// The static-file flags of `raptor-ev serve`, end to end: `--cache-control` and
/// `--cache-fingerprinted`, the media type table and `--mime-type`, dotfiles (404 except
/// `/.well-known/`, `--dotfiles allow`), `--listing` and `--fallback`, and the one-line
/// errors for bad values.
@Suite(.concurrent) final class StaticFileOptionTests: StaticSiteSuite {
    /// The file server runs on the event loop unless `--threads` says otherwise (no app
    /// thread in the worker), and gives a file all the same; a program with its own handler
    /// keeps 5 app threads by default. Each started with its binary's defaults (one
    /// process here), then the worker's threads counted in /proc beside the boot line's.
    @Test(arguments: [
        (Binaries.raptorEV, [String](), 0), (Binaries.raptorEV, ["--threads", "3"], 3), (Binaries.testApp, [], 5),
    ])
    func filesAreServedOnTheLoopUnlessThreadsAreGiven(binary: String, flags: [String], threads: Int) throws {
        let site = try makeSite(["a.txt": Array("a\n".utf8)])
        let leading = binary == Binaries.raptorEV ? ["serve", site] : []
        let mode = ServerMode(.inline, .tcp)
        let server = try startServer(
            mode, binary: binary, leading: leading, flags: flags + ["--single"], dispatchFlags: false)
        // The boot line follows "listening", which is what startServer waits for.
        let bootLine = { server.standardError.split(separator: "\n").first { $0.contains("worker booted") } }
        #expect(waitUntil(timeout: 10) { bootLine() != nil }, "\(server.logTail)")
        let booted = try #require(bootLine())
        #expect(booted.contains("\"threads\":\"\(threads)\""), "\(booted)")
        let reference = try startServer(
            mode, binary: binary, leading: leading, flags: ["--single", "--threads", "0"], dispatchFlags: false)
        // Answered: both engines run (their app threads start before the loop does).
        let path = binary == Binaries.raptorEV ? "/a.txt" : "/"
        for started in [server, reference] { try expectEqual(fetch(started, path).status, 200) }
        let tasks = { (pid: pid_t) in
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").count) ?? -1
        }
        #expect(tasks(server.pid) - tasks(reference.pid) == threads, "threads beyond the loop's")
    }

    @Test(arguments: ServerMode.all)
    func cacheControlIsOnEveryFileResponse(_ mode: ServerMode) throws {
        let site = try makeSite(["page.html": Array("<p>page</p>\n".utf8), "app.3f9a1c2b.js": [1, 2, 3]])
        let server = try startStaticServer(mode, directory: site, ["--cache-control", "public, max-age=3600"])
        let full = try fetch(server, "/page.html")
        #expect(full.header("Cache-Control") == "public, max-age=3600")
        let etag = try #require(full.header("ETag"))
        try expectEqual(
            fetch(server, "/page.html", ["Range: bytes=0-1"]).header("Cache-Control"), "public, max-age=3600")
        let notModified = try fetch(server, "/page.html", ["If-None-Match: \(etag)"])
        #expect(notModified.status == 304)
        #expect(notModified.header("Cache-Control") == "public, max-age=3600")
        try expectEqual(fetch(server, "/page.html", method: "HEAD").header("Cache-Control"), "public, max-age=3600")
        try expectEqual(fetch(server, "/missing.html").header("Cache-Control"), nil, "not a file: no caching fields")
        // Without --cache-fingerprinted, a hashed name is a name like any other.
        try expectEqual(fetch(server, "/app.3f9a1c2b.js").header("Cache-Control"), "public, max-age=3600")

        let defaults = try startStaticServer(mode, directory: site)
        try expectEqual(fetch(defaults, "/page.html").header("Cache-Control"), nil, "off by default")
    }

    @Test(arguments: ServerMode.all)
    func fingerprintedAssetsAreImmutable(_ mode: ServerMode) throws {
        let site = try makeSite([
            "app.3f9a1c2b.js": [1], "static/js/main.0a1b2c3d.chunk.js": [2], "logo-9b2e41d07a.svg": [3],
            "app.js": [4], "report.20240115.pdf": [5], "facade.css": [6],
        ])
        let server = try startStaticServer(
            mode, directory: site, ["--cache-fingerprinted", "--cache-control", "no-cache"])
        for path in ["/app.3f9a1c2b.js", "/static/js/main.0a1b2c3d.chunk.js", "/logo-9b2e41d07a.svg"] {
            let response = try fetch(server, path)
            #expect(response.header("Cache-Control") == "max-age=31536000, immutable", "\(path)")
            let etag = try #require(response.header("ETag"))
            try expectEqual(
                fetch(server, path, ["If-None-Match: \(etag)"]).header("Cache-Control"), "max-age=31536000, immutable",
                "\(path): 304")
        }
        for path in ["/app.js", "/report.20240115.pdf", "/facade.css"] {
            try expectEqual(fetch(server, path).header("Cache-Control"), "no-cache", "\(path)")
        }
    }

    @Test(arguments: ServerMode.all)
    func mediaTypesCoverTodaysWebAndCanBeOverridden(_ mode: ServerMode) throws {
        let names = [
            "a.avif", "site.webmanifest", "app.js.map", "m.mjs", "s.ogg", "s.opus", "f.eot", "f.otf", "c.ics",
            "m.wasm", "a.webp", "x.foo", "x.unknown", "README",
        ]
        let site = try makeSite(Dictionary(uniqueKeysWithValues: names.map { ($0, [UInt8(ascii: "x")]) }))
        let server = try startStaticServer(
            mode, directory: site, ["--mime-type", "webp=image/x-test", "--mime-type", ".FOO=application/x-foo"])
        let expected = [
            "a.avif": "image/avif", "site.webmanifest": "application/manifest+json", "app.js.map": "application/json",
            "m.mjs": "text/javascript; charset=utf-8", "s.ogg": "audio/ogg", "s.opus": "audio/opus",
            "f.eot": "application/vnd.ms-fontobject", "f.otf": "font/otf", "c.ics": "text/calendar; charset=utf-8",
            "m.wasm": "application/wasm", "a.webp": "image/x-test", "x.foo": "application/x-foo",
            "x.unknown": "application/octet-stream", "README": "application/octet-stream",
        ]
        for (name, type) in expected {
            try expectEqual(fetch(server, "/" + name).header("Content-Type"), type, "\(name)")
        }
    }

    @Test(arguments: ServerMode.all)
    func dotfilesAre404ExceptWellKnown(_ mode: ServerMode) throws {
        let site = try makeSite([
            ".env": Array("SECRET=1\n".utf8), ".git/config": Array("[core]\n".utf8),
            "dir/.htpasswd": Array("user:x\n".utf8), ".well-known/security.txt": Array("Contact: x\n".utf8),
            ".well-known/.hidden": [1], "visible.txt": Array("ok\n".utf8),
        ])
        let server = try startStaticServer(mode, directory: site)
        for path in ["/.env", "/.git/config", "/.git/", "/.git", "/dir/.htpasswd", "/.well-known/.hidden", "/%2eenv"] {
            let response = try fetch(server, path)
            #expect(response.status == 404, "\(path)")
            #expect(!(response.bodyText.contains("SECRET") || response.bodyText.contains("core")), "\(path)")
        }
        try expectEqual(fetch(server, "/.well-known/security.txt").bodyText, "Contact: x\n")
        try expectEqual(fetch(server, "/visible.txt").status, 200)

        let allowing = try startStaticServer(mode, directory: site, ["--dotfiles", "allow"])
        try expectEqual(fetch(allowing, "/.env").bodyText, "SECRET=1\n")
        try expectEqual(fetch(allowing, "/.git/config").status, 200)
    }

    @Test(arguments: ServerMode.all)
    func listingsAreOptInEscapedSortedAndLinkToTheFiles(_ mode: ServerMode) throws {
        let evil = "<img src=x onerror=alert(1)>.txt"
        let site = try makeSite([
            "docs/b.txt": Array("bee\n".utf8), "docs/A.txt": Array("ay\n".utf8), "docs/\(evil)": Array("evil\n".utf8),
            "docs/a&b \"q\".txt": Array("amp\n".utf8), "docs/zdir/x": [1], "docs/adir/y": [2],
            "docs/.secret": [3], "withindex/index.html": Array("<p>index</p>\n".utf8),
            ".well-known/security.txt": [4], ".git/config": [5],
        ])
        let off = try startStaticServer(mode, directory: site)
        try expectEqual(fetch(off, "/docs/").status, 404, "off by default")

        let server = try startStaticServer(mode, directory: site, ["--listing"])
        let response = try fetch(server, "/docs/")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/html; charset=utf-8")
        let page = response.bodyText
        #expect(!page.contains("<img"), "names are escaped: \(page)")
        #expect(!page.contains("<script"), "no script")
        #expect(page.contains("&lt;img src=x onerror=alert(1)&gt;.txt"), "\(page)")
        #expect(page.contains("a&amp;b &quot;q&quot;.txt"), "\(page)")
        #expect(!page.contains(".secret"), "dotfiles are not listed")
        // Directories first, then files, each sorted; sizes in bytes.
        let order = ["adir/", "zdir/", "&lt;img", "A.txt", "a&amp;b", "b.txt"].map { page.range(of: $0)?.lowerBound }
        #expect(!order.contains(nil), "\(page)")
        #expect(
            (order.compactMap { $0 }) == (order.compactMap { $0 }.sorted()), "directories first, then names: \(page)")
        #expect(page.contains(">4</td>"), "b.txt is 4 bytes: \(page)")
        // Every link leads to its file.
        let links = page.components(separatedBy: "href=\"").dropFirst().compactMap { $0.split(separator: "\"").first }
        #expect(links.contains("../"))
        for link in links where !link.hasSuffix("/") {
            let file = try fetch(server, "/docs/" + link)
            #expect(file.status == 200, "link \(link)")
        }
        #expect(links.contains("%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt"), "\(links)")
        try expectEqual(fetch(server, "/docs/" + links.first { $0.hasPrefix("%3C") }!).bodyText, "evil\n")
        // The root lists too, with no parent link; an index.html wins over a listing.
        let root = try fetch(server, "/")
        #expect(root.status == 200)
        #expect(!root.bodyText.contains("href=\"../\""))
        #expect(root.bodyText.contains("href=\".well-known/\""), "served, so listed: \(root.bodyText)")
        #expect(!root.bodyText.contains(".git"), "\(root.bodyText)")
        try expectEqual(fetch(server, "/withindex/").bodyText, "<p>index</p>\n")
        try expectEqual(fetch(server, "/docs").status, 301, "the slash first, as without listings")
        try expectEqual(fetch(server, "/nothing/").status, 404)
        #expect(try fetch(server, "/docs/", method: "HEAD").body.isEmpty)
    }

    @Test(arguments: ServerMode.all)
    func fallbackServesTheAppForRoutesButNotForMissingAssets(_ mode: ServerMode) throws {
        let site = try makeSite([
            "index.html": Array("<p>app</p>\n".utf8), "app.js": Array("app()\n".utf8), "docs/guide.html": [1],
        ])
        let server = try startStaticServer(mode, directory: site, ["--fallback", "index.html"])
        for path in ["/users/42", "/settings", "/deep/route/", "/users/42?tab=1"] {
            let response = try fetch(server, path)
            #expect(response.status == 200, "\(path)")
            #expect(response.bodyText == "<p>app</p>\n", "\(path)")
            #expect(response.header("Content-Type") == "text/html; charset=utf-8", "\(path)")
        }
        #expect(try fetch(server, "/users/42", method: "HEAD").body.isEmpty)
        for path in ["/missing.js", "/img/logo.png", "/docs/missing.html", "/.env"] {
            try expectEqual(fetch(server, path).status, 404, "\(path): an asset stays missing")
        }
        try expectEqual(fetch(server, "/app.js").bodyText, "app()\n", "files are files")
        try expectEqual(fetch(server, "/docs").status, 301, "directories are directories")
        try expectEqual(fetch(server, "/users/42", [], method: "POST").status, 405)

        let off = try startStaticServer(mode, directory: site)
        try expectEqual(fetch(off, "/users/42").status, 404, "off by default")
    }

    @Test(arguments: ServerMode.modes(.inline))
    func badValuesAreOneLineErrors(_ mode: ServerMode) throws {
        let site = try makeSite(["index.html": [1]])
        let cases: [([String], String)] = [
            (["--fallback", "missing.html"], "--fallback: 'missing.html' is not a file in"),
            (["--fallback", "../etc/passwd"], "--fallback: '../etc/passwd' is not a file path inside the directory"),
            (["--mime-type", "webp"], "expected EXT=TYPE"),
            (["--mime-type", "webp=image"], "'image' is not a media type"),
            (["--dotfiles", "sometimes"], "--dotfiles"),
            (["--cache-control", "max-age=1\u{7f}"], "--cache-control"),
            (["--file-cache", "-1"], "--file-cache: must be between 0 (off) and"),
        ]
        for (flags, message) in cases {
            let result = try ExternalClient.run(
                Binaries.raptorEV, ["serve", site, "--bind", "tcp://127.0.0.1:0"] + flags, timeout: 15,
                outputDirectory: workDirectory)
            #expect(result.status == .exited(64), "\(flags): \(result)")
            #expect(result.standardError.contains(message), "\(flags): \(result.standardError)")
        }
    }
}
