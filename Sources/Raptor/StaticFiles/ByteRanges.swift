/// The Range field of a GET (RFC 9110 section 14): which bytes of a representation of
/// `length` bytes to send.
///
/// Defences against the Apache range attack (CVE-2011-3192: many overlapping ranges made
/// one request cost many times the file), as section 14.2 allows:
/// - past `maximumRanges` range specs the field is ignored: the whole file, once (200);
/// - the satisfiable ranges are sorted and coalesced when they overlap, touch, or are
///   closer than `coalescingGap` (less than the overhead of one more part, section 14.6),
///   so no byte is sent twice and the number of parts never exceeds the number of
///   disjoint stretches.
/// The cost of a response is thus bounded by the file's length plus a bounded number of
/// part headers.
enum ByteRanges {
    /// Range specs past which the field is ignored.
    static let maximumRanges = 100
    /// Ranges closer than this are sent as one part.
    static let coalescingGap: UInt64 = 80

    enum Outcome: Equatable {
        /// No usable Range: send the whole representation (200). A unit other than bytes,
        /// a syntax error, too many ranges, or an empty representation.
        case whole
        /// No range overlaps the representation: 416 with `Content-Range: bytes */LENGTH`.
        case unsatisfiable
        /// Sorted, disjoint, non-empty, inside the representation: one gives a single-part
        /// 206, several a multipart/byteranges one.
        case ranges([Range<UInt64>])
    }

    static func evaluate(_ field: String, length: UInt64) -> Outcome {
        var field = field
        return field.withUTF8 { evaluate($0, length: length) }
    }

    private static func evaluate(_ text: UnsafeBufferPointer<UInt8>, length: UInt64) -> Outcome {
        var index = 0
        func skipWhitespace() {
            while index < text.count, text[index] == space || text[index] == tab { index += 1 }
        }
        /// Decimal digits, saturating at UInt64.max (a larger position is past any file);
        /// nil when there is no digit.
        func number() -> UInt64? {
            let start = index
            var value: UInt64 = 0
            while index < text.count, text[index] &- zero < 10 {
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(UInt64(text[index] &- zero))
                value = overflow1 || overflow2 ? .max : sum
                index += 1
            }
            return index > start ? value : nil
        }
        skipWhitespace()
        // The unit is case-insensitive (section 14.1); "bytes" is the only one we know.
        let unit: StaticString = "bytes="
        guard text.count - index >= unit.utf8CodeUnitCount else { return .whole }
        let unitMatches = unit.withUTF8Buffer { wanted in
            (0..<wanted.count).allSatisfy { ASCII.lowercased(text[index + $0]) == wanted[$0] }
        }
        guard unitMatches else { return .whole }
        index += unit.utf8CodeUnitCount
        var satisfiable: [Range<UInt64>] = []
        var specs = 0
        while true {
            // Empty list members are allowed (section 5.6.1.2).
            while index < text.count, text[index] == space || text[index] == tab || text[index] == comma {
                index += 1
            }
            if index == text.count { break }
            specs += 1
            if specs > maximumRanges { return .whole }
            if text[index] == dash {
                // suffix-range: the last N bytes.
                index += 1
                guard let suffix = number() else { return .whole }
                if suffix > 0 && length > 0 { satisfiable.append((length - min(suffix, length))..<length) }
            } else {
                guard let first = number(), index < text.count, text[index] == dash else { return .whole }
                index += 1
                let last = number()
                if let last, last < first { return .whole }  // invalid (section 14.1.1)
                if first < length {
                    let end = min(last.map { $0 == .max ? $0 : $0 + 1 } ?? length, length)
                    satisfiable.append(first..<end)
                }
            }
            skipWhitespace()
            guard index == text.count || text[index] == comma else { return .whole }
        }
        if specs == 0 { return .whole }
        // An empty representation has no bytes to range over: the whole of it, empty.
        if length == 0 { return .whole }
        if satisfiable.isEmpty { return .unsatisfiable }
        return .ranges(coalesced(satisfiable))
    }

    /// Sorted, with ranges that overlap or lie within `coalescingGap` of each other merged.
    static func coalesced(_ ranges: [Range<UInt64>]) -> [Range<UInt64>] {
        if ranges.count == 1 { return ranges }
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        var merged: [Range<UInt64>] = [sorted[0]]
        for range in sorted.dropFirst() {
            let last = merged[merged.count - 1]
            if range.lowerBound <= last.upperBound &+ coalescingGap {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }
}

private let space = UInt8(ascii: " ")
private let tab = UInt8(ascii: "\t")
private let comma = UInt8(ascii: ",")
private let dash = UInt8(ascii: "-")
private let zero = UInt8(ascii: "0")
