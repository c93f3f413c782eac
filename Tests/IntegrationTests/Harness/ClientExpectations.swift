import Testing

// Expectations about a connection, for every suite (ServerSuite and ClusterSuite alike).

/// `#expect(actual == expected)` for a value a throwing call reads, in a run of such
/// checks: Swift Testing shows no values for an expression with `try`, so either `let`
/// the value first or hand it here (`try expectEqual(fetch(server, "/").status, 200)`).
func expectEqual<Value: Equatable>(
    _ actual: Value, _ expected: Value, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual == expected, comment, sourceLocation: sourceLocation)
}

/// Expects the server to close `client` within `timeout` seconds and send nothing more.
/// A reset (RST instead of FIN) counts as a close unless `allowingReset` is false.
func expectClosed(
    _ client: RawClient, within timeout: Double = 5, allowingReset: Bool = true,
    _ context: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    let (closed, data) = client.waitForClose(timeout: timeout)
    #expect(
        closed, "the server did not close the connection within \(timeout) s. \(context())",
        sourceLocation: sourceLocation)
    #expect(
        data.count == 0,
        "the server sent more after the response: \(String(decoding: data.prefix(500), as: UTF8.self).debugDescription). \(context())",
        sourceLocation: sourceLocation)
    if !allowingReset {
        #expect(
            !client.wasReset, "the server reset the connection instead of closing it. \(context())",
            sourceLocation: sourceLocation)
    }
}

/// Expects the server to keep `client` open: one more read, bounded by `seconds`, finds
/// no byte, no end of stream and no reset. (A check after the last read, so a close
/// right after the last response is seen.)
func expectStillOpen(
    _ client: RawClient, for seconds: Double = 0.3, _ context: @autoclosure () -> String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let (closed, data) = client.waitForClose(timeout: seconds)
    let stillOpen = !closed
    #expect(
        stillOpen, "the server \(client.wasReset ? "reset" : "closed") the connection. \(context())",
        sourceLocation: sourceLocation)
    #expect(
        data.count == 0,
        "unexpected bytes: \(String(decoding: data.prefix(500), as: UTF8.self).debugDescription). \(context())",
        sourceLocation: sourceLocation)
}
