/// Conditional requests on a file (RFC 9110 section 13): which answer the validators of
/// the selected representation earn, in the order of section 13.2.2.
enum Preconditions {
    /// The conditional fields of a request, as sent; nil when absent. A date field sent
    /// more than once is nil (it has more than one member: ignored, section 13.1.3).
    struct Fields: Sendable, Equatable {
        var ifMatch: String? = nil
        var ifNoneMatch: String? = nil
        var ifModifiedSince: String? = nil
        var ifUnmodifiedSince: String? = nil
    }

    enum Outcome: Equatable {
        /// Serve the representation (200, or 206 when a range applies).
        case proceed
        /// 304 Not Modified.
        case notModified
        /// 412 Precondition Failed.
        case failed
    }

    /// Section 13.2.2, for a GET or HEAD of a representation that exists (a file), whose
    /// strong entity tag is `etag` and whose Last-Modified is `lastModified` (seconds).
    static func evaluate(_ fields: Fields, etag: String, lastModified: Int) -> Outcome {
        // 1. If-Match: false (or not a list of tags) -> 412. Strong comparison.
        if let ifMatch = fields.ifMatch {
            switch EntityTags.match(ifMatch, current: etag, comparison: .strong) {
            case .wildcard, .match: break
            case .noMatch, .malformed: return .failed
            }
        } else if let ifUnmodifiedSince = fields.ifUnmodifiedSince,
            let since = HTTPDate.parse(ifUnmodifiedSince), lastModified > since
        {
            // 2. If-Unmodified-Since, only without If-Match; an invalid date is ignored.
            return .failed
        }
        // 3. If-None-Match: false -> 304 for GET and HEAD. Weak comparison. A field that is
        // not a list of tags matches nothing.
        if let ifNoneMatch = fields.ifNoneMatch {
            switch EntityTags.match(ifNoneMatch, current: etag, comparison: .weak) {
            case .wildcard, .match: return .notModified
            case .noMatch, .malformed: return .proceed
            }
        }
        // 4. If-Modified-Since, only without If-None-Match: not modified since the date.
        if let ifModifiedSince = fields.ifModifiedSince, let since = HTTPDate.parse(ifModifiedSince),
            lastModified <= since
        {
            return .notModified
        }
        return .proceed
    }

    /// If-Range (section 13.1.5): true when the range may be sent, i.e. the client's copy
    /// is the current representation. An entity tag must match strongly (a weak one never
    /// does); a date must be exactly the Last-Modified sent. Anything else is false: the
    /// client then gets the whole representation, never a range of something else.
    static func ifRangeHolds(_ value: String, etag: String, lastModified: Int) -> Bool {
        let trimmed = value.trimmingOWS
        if trimmed.utf8.first == UInt8(ascii: "\"") { return trimmed == etag }
        if trimmed.hasPrefix("W/") { return false }
        return HTTPDate.parse(String(trimmed)) == lastModified
    }
}
