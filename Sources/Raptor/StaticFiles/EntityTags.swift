#if canImport(Glibc)
    import Glibc
#endif

/// Entity tags (RFC 9110 section 8.8.3): reading the lists clients send in If-Match and
/// If-None-Match, and the two comparisons of section 8.8.3.2.
///
/// The lists are scanned in place (no array, no substring per member): a revalidation is
/// the common request of a busy static site and must cost next to nothing.
enum EntityTags {
    /// What a list of entity tags says about one current tag.
    enum ListMatch: Equatable {
        /// The field is `*`: any current representation.
        case wildcard
        /// A member matches.
        case match
        /// No member matches.
        case noMatch
        /// Not a list of entity tags.
        case malformed
    }

    enum Comparison {
        /// Both tags strong and the same (If-Match, If-Range).
        case strong
        /// The same opaque tags, either of them weak or not (If-None-Match).
        case weak
    }

    /// Matches `current` (a strong tag with its quotes, `"..."`) against the list in
    /// `field` (`*`, or `#entity-tag`: `"a", W/"b"`; empty members and OWS allowed).
    static func match(_ field: String, current: String, comparison: Comparison) -> ListMatch {
        var field = field
        var current = current
        return field.withUTF8 { list in
            current.withUTF8 { current in match(list, current: current, comparison: comparison) }
        }
    }

    private static func match(
        _ list: UnsafeBufferPointer<UInt8>, current: UnsafeBufferPointer<UInt8>, comparison: Comparison
    ) -> ListMatch {
        var index = 0
        func skipWhitespace() {
            while index < list.count, list[index] == space || list[index] == tab { index += 1 }
        }
        skipWhitespace()
        if index < list.count, list[index] == asterisk {
            index += 1
            skipWhitespace()
            return index == list.count ? .wildcard : .malformed
        }
        var matched = false
        var members = 0
        while true {
            // Empty members (", ,") are allowed and skipped (RFC 9110 section 5.6.1.2).
            while index < list.count, list[index] == space || list[index] == tab || list[index] == comma {
                index += 1
            }
            if index == list.count { break }
            var weak = false
            if list[index] == UInt8(ascii: "W"), index + 1 < list.count, list[index + 1] == slash {
                weak = true
                index += 2
            }
            guard index < list.count, list[index] == quote else { return .malformed }
            let start = index
            index += 1
            // etagc: %x21 / %x23-7E / obs-text
            while index < list.count, list[index] != quote {
                let byte = list[index]
                guard byte == 0x21 || byte >= 0x23 && byte != 0x7F else { return .malformed }
                index += 1
            }
            guard index < list.count else { return .malformed }
            index += 1
            members += 1
            // memcmp: the generic elementsEqual cost most of a revalidation.
            let length = index - start
            if length == current.count && memcmp(list.baseAddress! + start, current.baseAddress!, length) == 0
                && (comparison == .weak || !weak)
            {
                matched = true
            }
            skipWhitespace()
            guard index == list.count || list[index] == comma else { return .malformed }
        }
        if members == 0 { return .malformed }
        return matched ? .match : .noMatch
    }
}

private let space = UInt8(ascii: " ")
private let tab = UInt8(ascii: "\t")
private let comma = UInt8(ascii: ",")
private let quote = UInt8(ascii: "\"")
private let slash = UInt8(ascii: "/")
private let asterisk = UInt8(ascii: "*")
