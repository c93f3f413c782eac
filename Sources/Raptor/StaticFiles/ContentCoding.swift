/// The content codings a static file can be stored in next to itself (`x.js.br`,
/// `x.js.zst`, `x.js.gz`), in the order the server prefers them when a client accepts
/// several equally: the smallest files first.
public enum ContentCoding: String, CaseIterable, Sendable {
    case br
    case zstd
    case gzip

    /// What the precompressed sibling's name adds to the file's.
    var fileSuffix: String {
        switch self {
        case .br: return ".br"
        case .zstd: return ".zst"
        case .gzip: return ".gz"
        }
    }

    /// Picks the representation to send from what Accept-Encoding (RFC 9110 section
    /// 12.5.3) says, among `available` codings (in the server's order of preference);
    /// nil means the file itself (identity).
    ///
    /// - No field: identity (a client that says nothing may not decode anything).
    /// - Each coding gets its own weight, or that of `*`, or 0 when neither is listed;
    ///   `x-gzip` is `gzip` (section 8.4.1.3). A weight of 0 means "not acceptable".
    /// - identity is acceptable unless refused by `identity;q=0`, or by `*;q=0` without
    ///   an entry of its own; unlisted, it weighs what `*` does, else 1.
    /// - The acceptable coding with the highest weight wins, a coding over identity at
    ///   equal weight (it is smaller), and identity over a lighter coding.
    /// - When identity is refused and no available coding is acceptable, identity anyway:
    ///   section 12.5.3 says a server SHOULD then send the content without coding, rather
    ///   than the 406 of older specifications (which broke clients for no gain).
    static func negotiate(_ acceptEncoding: String?, available: [ContentCoding]) -> ContentCoding? {
        guard let acceptEncoding, !available.isEmpty else { return nil }
        let weights = AcceptEncodingWeights(acceptEncoding)
        var best: ContentCoding? = nil
        var bestWeight = 0
        for coding in available {
            let weight = weights.weight(of: coding)
            if weight > bestWeight {
                best = coding
                bestWeight = weight
            }
        }
        guard let best else { return nil }
        return bestWeight >= weights.identityWeight ? best : nil
    }
}

/// The weights (in thousandths: q=0.5 is 500) an Accept-Encoding field gives the codings
/// this server knows, identity and `*`. Members it cannot read are skipped.
struct AcceptEncodingWeights: Equatable {
    private var codings: [Int?] = Array(repeating: nil, count: ContentCoding.allCases.count)
    private var identity: Int? = nil
    private var wildcard: Int? = nil

    init(_ field: String) {
        var field = field
        field.withUTF8 { parse($0) }
    }

    func weight(of coding: ContentCoding) -> Int {
        codings[ContentCoding.allCases.firstIndex(of: coding)!] ?? wildcard ?? 0
    }

    var identityWeight: Int { identity ?? wildcard ?? 1000 }

    private mutating func parse(_ text: UnsafeBufferPointer<UInt8>) {
        var index = 0
        while index < text.count {
            // One member: coding *( OWS ";" OWS parameter ), up to the next comma.
            var end = index
            while end < text.count, text[end] != UInt8(ascii: ",") { end += 1 }
            member(UnsafeBufferPointer(rebasing: text[index..<end]))
            index = end + 1
        }
    }

    private mutating func member(_ text: UnsafeBufferPointer<UInt8>) {
        var parts = text.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false).makeIterator()
        guard let name = parts.next().map(Self.trimmed), !name.isEmpty else { return }
        var weight = 1000
        for parameter in parts {
            let parameter = Self.trimmed(parameter)
            guard parameter.count >= 2, ASCII.lowercased(parameter[parameter.startIndex]) == UInt8(ascii: "q"),
                parameter[parameter.startIndex + 1] == UInt8(ascii: "=")
            else { continue }  // a parameter other than the weight: ignored
            guard let value = Self.qvalue(parameter.dropFirst(2)) else { return }
            weight = value
        }
        let lowered = String(decoding: name.map(ASCII.lowercased), as: UTF8.self)
        switch lowered {
        case "*": wildcard = weight
        case "identity": identity = weight
        case "x-gzip": codings[ContentCoding.allCases.firstIndex(of: .gzip)!] = weight
        default:
            if let coding = ContentCoding(rawValue: lowered) {
                codings[ContentCoding.allCases.firstIndex(of: coding)!] = weight
            }
        }
    }

    private static func trimmed(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Slice<UnsafeBufferPointer<UInt8>> {
        let isWhitespace: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !isWhitespace($0) }) else { return bytes[bytes.endIndex...] }
        let last = bytes.lastIndex(where: { !isWhitespace($0) })!
        return bytes[first...last]
    }

    /// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (section 12.4.2),
    /// in thousandths; nil when malformed.
    private static func qvalue(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Int? {
        guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        var rest = bytes.dropFirst()
        var value = first == UInt8(ascii: "1") ? 1000 : 0
        guard let dot = rest.first else { return value }
        guard dot == UInt8(ascii: "."), rest.count <= 4 else { return nil }
        rest = rest.dropFirst()
        var scale = 100
        for digit in rest {
            let number = Int(digit &- UInt8(ascii: "0"))
            guard number < 10 else { return nil }
            value += number * scale
            scale /= 10
        }
        return value > 1000 ? nil : value
    }
}
