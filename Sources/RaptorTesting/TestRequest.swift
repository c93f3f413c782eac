public import HTTPTypes

/// A request a `TestClient` sends: its method, target, fields and body, encoded as an
/// HTTP/1.1 client would. For bytes no well-behaved client sends (a malformed head, a
/// chunked body split by hand) write them raw (`TestClient.write(raw:)`).
public struct TestRequest: Sendable {
    public var method: HTTPRequest.Method
    /// The request target: a path and its query (`/search?q=raptor`), or any other form.
    public var path: String
    /// Sent in this order. `Host: localhost` is added when absent, and `Content-Length`
    /// when there is a body (or the method is POST, PUT or PATCH) and neither it nor
    /// `Transfer-Encoding` is set (then the body is sent as it is).
    public var headers: HTTPFields
    public var body: [UInt8]

    public init(method: HTTPRequest.Method = .get, path: String, headers: HTTPFields = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
    }

    public init(method: HTTPRequest.Method, path: String, headers: HTTPFields = [:], body: String) {
        self.init(method: method, path: path, headers: headers, body: Array(body.utf8))
    }

    public static func get(_ path: String, headers: HTTPFields = [:]) -> TestRequest {
        TestRequest(method: .get, path: path, headers: headers)
    }

    public static func head(_ path: String, headers: HTTPFields = [:]) -> TestRequest {
        TestRequest(method: .head, path: path, headers: headers)
    }

    public static func delete(_ path: String, headers: HTTPFields = [:]) -> TestRequest {
        TestRequest(method: .delete, path: path, headers: headers)
    }

    public static func post(_ path: String, headers: HTTPFields = [:], body: String) -> TestRequest {
        TestRequest(method: .post, path: path, headers: headers, body: body)
    }

    public static func post(_ path: String, headers: HTTPFields = [:], body: [UInt8]) -> TestRequest {
        TestRequest(method: .post, path: path, headers: headers, body: body)
    }

    public static func put(_ path: String, headers: HTTPFields = [:], body: String) -> TestRequest {
        TestRequest(method: .put, path: path, headers: headers, body: body)
    }

    private static let host = HTTPField.Name("Host")!

    /// The request on the wire: request line, fields, empty line, body.
    public var bytes: [UInt8] {
        var head = "\(method.rawValue) \(path) HTTP/1.1\r\n"
        if headers[Self.host] == nil { head += "Host: localhost\r\n" }
        for field in headers { head += "\(field.name.rawName): \(field.value)\r\n" }
        let framed = headers[.contentLength] != nil || headers[.transferEncoding] != nil
        if !framed && (!body.isEmpty || [.post, .put, .patch].contains(method)) {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + body
    }
}
