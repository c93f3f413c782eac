import HTTPTypes

extension StaticFiles {
    /// The parts of a request the static file server reads: method, path, and the fields
    /// of conditional requests, ranges and content negotiation, as sent (nil: absent).
    /// Built from a `Request` by `respond(to:)`; made by hand, it lets the server run
    /// without a connection (tests, or a handler that serves files under a prefix).
    public struct FileRequest: Sendable {
        public var method: HTTPRequest.Method
        /// Percent-encoded, as sent, without the query.
        public var path: String
        public var query: String?
        public var ifMatch: String?
        public var ifNoneMatch: String?
        public var ifModifiedSince: String?
        public var ifUnmodifiedSince: String?
        public var range: String?
        public var ifRange: String?
        public var acceptEncoding: String?

        public init(
            method: HTTPRequest.Method = .get, path: String, query: String? = nil, ifMatch: String? = nil,
            ifNoneMatch: String? = nil, ifModifiedSince: String? = nil, ifUnmodifiedSince: String? = nil,
            range: String? = nil, ifRange: String? = nil, acceptEncoding: String? = nil
        ) {
            self.method = method
            self.path = path
            self.query = query
            self.ifMatch = ifMatch
            self.ifNoneMatch = ifNoneMatch
            self.ifModifiedSince = ifModifiedSince
            self.ifUnmodifiedSince = ifUnmodifiedSince
            self.range = range
            self.ifRange = ifRange
            self.acceptEncoding = acceptEncoding
        }

        /// Reads `request`. List fields sent on several lines are one list (RFC 9110
        /// section 5.3). A date field sent twice has more than one member and is ignored
        /// (section 13.1.3); a second Range is ignored with the first (whole file); a
        /// second If-Range makes the condition false (whole file).
        public init(_ request: Request) {
            let headers = request.headers
            func list(_ name: HTTPField.Name) -> String? {
                guard let first = headers[name] else { return nil }
                let all = headers.values(for: name)
                return all.count == 1 ? first : all.joined(separator: ", ")
            }
            func single(_ name: HTTPField.Name, repeated: String?) -> String? {
                guard let first = headers[name] else { return nil }
                return headers.values(for: name).count == 1 ? first : repeated
            }
            self.init(
                method: request.method, path: request.path, query: request.query, ifMatch: list(.ifMatch),
                ifNoneMatch: list(.ifNoneMatch), ifModifiedSince: single(.ifModifiedSince, repeated: nil),
                ifUnmodifiedSince: single(.ifUnmodifiedSince, repeated: nil), range: single(.range, repeated: nil),
                ifRange: single(.ifRange, repeated: ""), acceptEncoding: list(.acceptEncoding))
        }

        var conditions: Preconditions.Fields {
            Preconditions.Fields(
                ifMatch: ifMatch, ifNoneMatch: ifNoneMatch, ifModifiedSince: ifModifiedSince,
                ifUnmodifiedSince: ifUnmodifiedSince)
        }
    }
}
