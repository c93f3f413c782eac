import HTTPTypes

// Conversions between `Response` and swift-http-types, for code that already speaks it (a
// client's response passed through, middleware written for HTTPTypes). The server reads
// `Response` itself, whose flat field list costs far less per request than `HTTPFields`.

extension Response {
    /// `response`'s status and header fields, with `body`.
    public init(_ response: HTTPResponse, body: Body = .empty) {
        self.init(status: response.status, headers: ResponseFields(response.headerFields), body: body)
    }

    /// The status and header fields as an `HTTPResponse` (which has no body).
    public var httpResponse: HTTPResponse {
        HTTPResponse(status: status, headerFields: headers.httpFields)
    }
}

extension ResponseFields {
    /// Every field of `fields`, in order, repeated ones included.
    public init(_ fields: HTTPFields) {
        self.init(fields.map { ($0.name, $0.value) })
    }

    /// The fields as `HTTPFields`, in order. HTTPTypes makes a value with characters a field
    /// cannot hold (CR, LF, NUL) safe by replacing them with spaces; the server, sending a
    /// `Response`, drops such a field instead.
    public var httpFields: HTTPFields {
        var result = HTTPFields()
        result.reserveCapacity(fields.count)
        for (name, value) in fields { result.append(HTTPField(name: name, value: value)) }
        return result
    }
}
