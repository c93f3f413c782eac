public import HTTPTypes

/// A response as a `TestClient` read it off the connection: every byte the engine wrote,
/// parsed.
public struct TestResponse: Sendable {
    /// How the body was delimited (RFC 9112 section 6.3).
    public enum Framing: Sendable, Equatable {
        /// No body by rule: a HEAD request, or a 1xx, 204 or 304 status.
        case none
        case contentLength
        /// `Transfer-Encoding: chunked`: a streamed body.
        case chunked
        /// Neither: the body ran to the end of the connection.
        case closeDelimited
    }

    /// "HTTP/1.1".
    public var version: String
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var body: [UInt8]
    public var framing: Framing
    /// The chunks of a chunked body, as the server framed them (empty otherwise).
    public var chunks: [[UInt8]]
    /// The trailer fields after a chunked body.
    public var trailers: HTTPFields
    /// Interim (1xx) responses read before this one, such as `100 Continue`.
    public var interimStatuses: [HTTPResponse.Status]

    /// The body as UTF-8 text.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The status and fields as swift-http-types' `HTTPResponse`.
    public var httpResponse: HTTPResponse { HTTPResponse(status: status, headerFields: headers) }
}
