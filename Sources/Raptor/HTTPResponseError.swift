import HTTPTypes

/// An error that carries its own response: when a handler throws one, the client gets its
/// status, header fields and body (any other error is a 500).
///
/// ```swift
/// struct NotFound: HTTPResponseError {
///     var status: HTTPResponse.Status { .notFound }
/// }
/// struct Unauthorized: HTTPResponseError {
///     var status: HTTPResponse.Status { .unauthorized }
///     var headers: ResponseFields { [.wwwAuthenticate: "Bearer", .contentType: "application/json"] }
///     var body: Response.Body { #"{"error":"token expired"}"# }
/// }
/// ```
///
/// A thrown 4xx is an answer, not a failure: it is logged at debug level and does not reach
/// `Hooks.onError`. A 5xx is logged as an error and reaches `Hooks.onError`, as any other
/// error does. Unlike the 500 for other errors, the connection stays open for the next
/// request. Thrown after a streamed body began, it can only end the connection.
public protocol HTTPResponseError: Error {
    var status: HTTPResponse.Status { get }
    /// Default: `Content-Type: text/plain; charset=utf-8`, for the default body. Set your
    /// own when you set `body`.
    var headers: ResponseFields { get }
    /// Default: the status's reason phrase and a newline (`Not Found\n`).
    var body: Response.Body { get }
}

extension HTTPResponseError {
    public var headers: ResponseFields { [.contentType: "text/plain; charset=utf-8"] }
    public var body: Response.Body { .string(status.reasonPhrase + "\n") }

    /// What the client gets.
    var response: Response { Response(status: status, headers: headers, body: body) }
}
