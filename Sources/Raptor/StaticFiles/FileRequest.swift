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

        /// Reads `request`, in one pass over its fields. List fields sent on several lines
        /// are one list (RFC 9110 section 5.3). A date field sent twice has more than one
        /// member and is ignored (section 13.1.3); a second Range is ignored with the first
        /// (whole file); a second If-Range makes the condition false (whole file).
        public init(_ request: Request) {
            // Locals, given to the memberwise init at the end: building `self` first and then
            // changing it cost two copies of the whole struct per request.
            var ifMatch: String? = nil
            var ifNoneMatch: String? = nil
            var ifModifiedSince: String? = nil
            var ifUnmodifiedSince: String? = nil
            var range: String? = nil
            var ifRange: String? = nil
            var acceptEncoding: String? = nil
            var repeated = Set<Field>()
            let headers = request.headers
            for index in headers.range {
                guard let field = Field(headers.nameBytes(at: index)) else { continue }
                let value = headers.value(at: index)
                switch field {
                case .ifMatch: ifMatch = Self.joined(ifMatch, value)
                case .ifNoneMatch: ifNoneMatch = Self.joined(ifNoneMatch, value)
                case .acceptEncoding: acceptEncoding = Self.joined(acceptEncoding, value)
                case .ifModifiedSince:
                    if ifModifiedSince != nil { repeated.insert(field) }
                    ifModifiedSince = value
                case .ifUnmodifiedSince:
                    if ifUnmodifiedSince != nil { repeated.insert(field) }
                    ifUnmodifiedSince = value
                case .range:
                    if range != nil { repeated.insert(field) }
                    range = value
                case .ifRange:
                    if ifRange != nil { repeated.insert(field) }
                    ifRange = value
                }
            }
            if !repeated.isEmpty {
                if repeated.contains(.ifModifiedSince) { ifModifiedSince = nil }
                if repeated.contains(.ifUnmodifiedSince) { ifUnmodifiedSince = nil }
                if repeated.contains(.range) { range = nil }
                if repeated.contains(.ifRange) { ifRange = "" }
            }
            self.init(
                method: request.method, path: request.path, query: request.query, ifMatch: ifMatch,
                ifNoneMatch: ifNoneMatch, ifModifiedSince: ifModifiedSince, ifUnmodifiedSince: ifUnmodifiedSince,
                range: range, ifRange: ifRange, acceptEncoding: acceptEncoding)
        }

        private static func joined(_ list: String?, _ value: String) -> String {
            guard let list else { return value }
            return list + ", " + value
        }

        /// The fields read, told apart by length, then by their lowercase spelling.
        private enum Field: Hashable {
            case ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince, range, ifRange, acceptEncoding

            init?(_ name: UnsafeBufferPointer<UInt8>) {
                let candidate: (Field, StaticString)
                switch name.count {
                case 5: candidate = (.range, "range")
                case 8:
                    switch ASCII.lowercased(name[3]) {
                    case UInt8(ascii: "m"): candidate = (.ifMatch, "if-match")
                    case UInt8(ascii: "r"): candidate = (.ifRange, "if-range")
                    default: return nil
                    }
                case 13: candidate = (.ifNoneMatch, "if-none-match")
                case 15: candidate = (.acceptEncoding, "accept-encoding")
                case 17: candidate = (.ifModifiedSince, "if-modified-since")
                case 19: candidate = (.ifUnmodifiedSince, "if-unmodified-since")
                default: return nil
                }
                let matches = candidate.1.withUTF8Buffer { wanted in
                    (0..<wanted.count).allSatisfy { ASCII.lowercased(name[$0]) == wanted[$0] }
                }
                guard matches else { return nil }
                self = candidate.0
            }
        }

        var conditions: Preconditions.Fields {
            Preconditions.Fields(
                ifMatch: ifMatch, ifNoneMatch: ifNoneMatch, ifModifiedSince: ifModifiedSince,
                ifUnmodifiedSince: ifUnmodifiedSince)
        }
    }
}
