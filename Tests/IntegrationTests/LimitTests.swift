import Testing

/// The size limits: exact statuses (413, 414, 431), the connection closed after each, and
/// a request right at a limit still served.
@Suite(.concurrent) final class LimitTests: ServerSuite {
    @Test(arguments: ServerMode.all)
    func contentLengthOverMaxBodySizeGets413(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--max-body-size", "1k"])
        // Only the head: the length alone is enough to refuse it.
        try expectStatusThenClose(
            server, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1025\r\n\r\n", status: 413)
        // Exactly at the limit is fine.
        let body = String(repeating: "b", count: 1024)
        let response = try exchange(server, Requests.post("/echo", body: body))
        #expect(response.status == 200)
        #expect(response.body.count == 1024)
    }

    @Test(arguments: ServerMode.all)
    func chunkedBodyGrowingOverMaxBodySizeGets413(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--max-body-size", "1k"])
        let chunk = String(repeating: "c", count: 600)
        // Each chunk is under the limit; together they are over it. No last chunk is sent.
        try expectStatusThenClose(
            server,
            "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n",
            status: 413)
    }

    @Test(arguments: ServerMode.all)
    func targetOverMaxTargetSizeGets414(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--max-target-size", "64"])
        let exact = "/request?x=" + String(repeating: "a", count: 64 - 11)
        #expect(exact.utf8.count == 64)
        let status = try exchange(server, Requests.get(exact)).status
        #expect(status == 200, "a target of exactly --max-target-size")
        try expectStatusThenClose(server, Requests.get(exact + "a"), status: 414)
        try expectStatusThenClose(
            server, Requests.get("/request?x=" + String(repeating: "a", count: 4000)), status: 414)
    }

    @Test(arguments: ServerMode.all)
    func headerSectionOverMaxHeaderSizeGets431(_ mode: ServerMode) throws {
        // The target limit (8 KiB by default) may not exceed the header limit.
        let server = try startTestApp(mode, ["--max-header-size", "1k", "--max-target-size", "1k"])
        let small = try exchange(server, Requests.get("/", "X-Small: \(String(repeating: "s", count: 500))\r\n")).status
        #expect(small == 200)
        try expectStatusThenClose(
            server, Requests.get("/", "X-Big: \(String(repeating: "b", count: 2000))\r\n"), status: 431)
        // Many small fields that add up past the limit.
        let many = (0..<40).map { "X-Field-\($0): \(String(repeating: "v", count: 30))\r\n" }.joined()
        try expectStatusThenClose(server, Requests.get("/", many), status: 431)
    }

    @Test(arguments: ServerMode.all)
    func moreThanMaxHeaderCountGets431(_ mode: ServerMode) throws {
        let server = try startTestApp(mode, ["--max-header-count", "10"])
        // Host plus 9: exactly 10 fields.
        let nine = (1...9).map { "X-F\($0): v\r\n" }.joined()
        let status = try exchange(server, Requests.get("/", nine)).status
        #expect(status == 200, "exactly --max-header-count fields")
        try expectStatusThenClose(server, Requests.get("/", nine + "X-F10: v\r\n"), status: 431)
    }
}
