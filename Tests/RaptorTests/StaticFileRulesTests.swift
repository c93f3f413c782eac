import Foundation
import Testing

@testable import Raptor

#if canImport(Glibc)
    import Glibc
#endif

/// The pure rules of the static file server, each on a table of cases: ranges (RFC 9110
/// section 14), Accept-Encoding weights (12.5.3), entity tag comparison (8.8.3.2),
/// the precedence of preconditions (13.2.2) and If-Range (13.1.5), and the naming rules
/// (fingerprints, dotfiles, media types, option checks).
@Suite struct StaticFileRulesTests {
    // MARK: Ranges

    @Test(
        arguments: [
            // (field, length, expected)
            ("bytes=0-499", 1000, [0..<500]),
            ("bytes=500-999", 1000, [500..<1000]),
            ("bytes=500-", 1000, [500..<1000]),
            ("bytes=-500", 1000, [500..<1000]),
            ("bytes=-1", 1000, [999..<1000]),
            ("bytes=0-0", 1000, [0..<1]),
            ("bytes=0-5000", 1000, [0..<1000]),
            ("bytes=-5000", 1000, [0..<1000]),
            ("BYTES=0-1", 1000, [0..<2]),
            ("bytes=0-1 , 500-501", 1000, [0..<2, 500..<502]),
            ("bytes=0-1,,500-501,", 1000, [0..<2, 500..<502]),
            // Sorted, and coalesced when overlapping, adjacent or within 80 bytes.
            ("bytes=500-501,0-1", 1000, [0..<2, 500..<502]),
            ("bytes=0-10,5-20", 1000, [0..<21]),
            ("bytes=0-9,10-19", 1000, [0..<20]),
            ("bytes=0-0,80-80", 1000, [0..<81]),
            ("bytes=0-0,82-82", 1000, [0..<1, 82..<83]),
            ("bytes=-100,0-", 1000, [0..<1000]),
            // Unsatisfiable ones are dropped while others remain.
            ("bytes=0-1,2000-3000", 1000, [0..<2]),
            // Positions past 2^64 saturate: past any file.
            ("bytes=0-99999999999999999999999", 1000, [0..<1000]),
            ("bytes=-99999999999999999999999", 1000, [0..<1000]),
        ] as [(String, UInt64, [Range<UInt64>])])
    func rangesAreResolvedSortedAndCoalesced(field: String, length: UInt64, expected: [Range<UInt64>]) {
        #expect(ByteRanges.evaluate(field, length: length) == .ranges(expected))
    }

    @Test(
        arguments: [
            ("bytes=1000-", 1000), ("bytes=1000-2000", 1000), ("bytes=-0", 1000), ("bytes=5000-,6000-7000", 1000),
            ("bytes=99999999999999999999999-", 1000),
        ] as [(String, UInt64)])
    func rangesOutsideTheFileAreUnsatisfiable(field: String, length: UInt64) {
        #expect(ByteRanges.evaluate(field, length: length) == .unsatisfiable)
    }

    /// A field that cannot be read, or a unit other than bytes, is ignored: the whole file.
    @Test(arguments: [
        "items=0-1", "bytes", "bytes=", "bytes=,", "bytes=5-1", "bytes=a-b", "bytes=0-1;x", "bytes=1", "bytes=--1",
        "bytes=0-1-2", "bytes=+1-2", "bytes =0-1", "bytes=0x10-0x20", "bytes=1-2 3-4",
    ])
    func unreadableRangesAreIgnored(field: String) {
        #expect(ByteRanges.evaluate(field, length: 1000) == .whole)
    }

    @Test func anEmptyFileIsSentWholeWhateverTheRange() {
        #expect(ByteRanges.evaluate("bytes=0-1", length: 0) == .whole)
        #expect(ByteRanges.evaluate("bytes=-5", length: 0) == .whole)
    }

    /// The Apache range attack: many overlapping ranges must not multiply the work.
    @Test func manyOverlappingRangesBecomeOneAndTooManyAreIgnored() {
        let overlapping = "bytes=" + (0..<100).map { "\($0)-" }.joined(separator: ",")
        #expect(ByteRanges.evaluate(overlapping, length: 1 << 20) == .ranges([0..<(1 << 20)]))
        let small = "bytes=" + (0..<100).map { "\($0 * 1000)-\($0 * 1000)" }.joined(separator: ",")
        guard case .ranges(let parts) = ByteRanges.evaluate(small, length: 1 << 20) else {
            Issue.record("100 disjoint ranges are served")
            return
        }
        #expect(parts.count == 100)
        #expect(parts.allSatisfy { $0.count == 1 })
        let tooMany =
            "bytes=" + (0...ByteRanges.maximumRanges).map { "\($0 * 1000)-\($0 * 1000)" }.joined(separator: ",")
        #expect(ByteRanges.evaluate(tooMany, length: 1 << 20) == .whole)
    }

    // MARK: Accept-Encoding

    @Test(
        arguments: [
            (nil, [.br, .zstd, .gzip], nil),
            ("", [.br, .gzip], nil),
            ("gzip", [.br, .gzip], .gzip),
            ("gzip, br", [.br, .gzip], .br),
            ("gzip, deflate, br, zstd", [.br, .zstd, .gzip], .br),
            ("zstd, gzip", [.br, .zstd, .gzip], .zstd),
            ("br;q=0.5, gzip", [.br, .gzip], .gzip),
            ("br;q=0, gzip;q=0", [.br, .gzip], nil),
            ("br", [.gzip], nil),
            ("deflate, compress", [.br, .gzip], nil),
            ("*", [.br, .gzip], .br),
            ("gzip;q=0.8, *;q=0.9", [.br, .gzip], .br),
            ("*;q=0", [.br, .gzip], nil),
            ("x-gzip", [.gzip], .gzip),
            ("GZIP;Q=1.0", [.gzip], .gzip),
            (" gzip ; q=0.5 , identity ;q=0.1", [.gzip], .gzip),
            // identity weighs 1 unless listed: a lighter coding loses to it...
            ("gzip;q=0.1", [.gzip], nil),
            ("gzip;q=0.1, identity;q=0.05", [.gzip], .gzip),
            ("gzip;q=0.5, identity;q=0.5", [.gzip], .gzip),
            // ...and identity;q=0 refuses it, so any acceptable coding wins.
            ("gzip;q=0.001, identity;q=0", [.gzip], .gzip),
            ("gzip;q=0.001, *;q=0", [.gzip], .gzip),
            // Refused identity and nothing else acceptable: identity anyway (12.5.3).
            ("identity;q=0", [.gzip], nil),
            // A weight that is not a qvalue drops its member.
            ("gzip;q=1.5", [.gzip], nil),
            ("gzip;q=0.1234", [.gzip], nil),
            ("gzip;q=x", [.gzip], nil),
            ("gzip;q=", [.gzip], nil),
            ("gzip;level=9", [.gzip], .gzip),
        ] as [(String?, [ContentCoding], ContentCoding?)])
    func acceptEncodingPicksTheHeaviestAcceptableCoding(
        field: String?, available: [ContentCoding], expected: ContentCoding?
    ) {
        #expect(ContentCoding.negotiate(field, available: available) == expected)
    }

    // MARK: Entity tags

    static let tag = "\"abc-1\""

    @Test(
        arguments: [
            ("*", EntityTags.ListMatch.wildcard, EntityTags.ListMatch.wildcard),
            (" * ", .wildcard, .wildcard),
            ("\"abc-1\"", .match, .match),
            ("W/\"abc-1\"", .noMatch, .match),
            ("\"x\", \"abc-1\"", .match, .match),
            ("\"x\",W/\"abc-1\"", .noMatch, .match),
            (" , \"abc-1\" ,", .match, .match),
            ("\"abc-2\"", .noMatch, .noMatch),
            ("\"ABC-1\"", .noMatch, .noMatch),
            ("\"abc-1", .malformed, .malformed),
            ("abc-1", .malformed, .malformed),
            ("\"a\" \"abc-1\"", .malformed, .malformed),
            ("*, \"abc-1\"", .malformed, .malformed),
            ("w/\"abc-1\"", .malformed, .malformed),
            ("", .malformed, .malformed),
            ("\"a,b\", \"abc-1\"", .match, .match),
        ] as [(String, EntityTags.ListMatch, EntityTags.ListMatch)])
    func entityTagsCompareStronglyAndWeakly(field: String, strong: EntityTags.ListMatch, weak: EntityTags.ListMatch) {
        #expect(EntityTags.match(field, current: Self.tag, comparison: .strong) == strong)
        #expect(EntityTags.match(field, current: Self.tag, comparison: .weak) == weak)
    }

    // MARK: Preconditions

    static let modified = 1_000_000_000
    static let before = HTTPDate.format(modified - 1)
    static let same = HTTPDate.format(modified)
    static let after = HTTPDate.format(modified + 1)

    @Test(
        arguments: [
            (Preconditions.Fields(), Preconditions.Outcome.proceed),
            // If-Match (strong): a match or * proceeds, anything else fails.
            (.init(ifMatch: tag), .proceed),
            (.init(ifMatch: "*"), .proceed),
            (.init(ifMatch: "\"other\""), .failed),
            (.init(ifMatch: "W/\"abc-1\""), .failed),
            (.init(ifMatch: "garbage"), .failed),
            // If-Unmodified-Since: later modification fails; ignored next to If-Match and
            // when not a date.
            (.init(ifUnmodifiedSince: same), .proceed),
            (.init(ifUnmodifiedSince: before), .failed),
            (.init(ifMatch: tag, ifUnmodifiedSince: before), .proceed),
            (.init(ifUnmodifiedSince: "yesterday"), .proceed),
            // If-None-Match (weak): a match or * is 304; it decides alone over If-Modified-Since.
            (.init(ifNoneMatch: tag), .notModified),
            (.init(ifNoneMatch: "W/\"abc-1\""), .notModified),
            (.init(ifNoneMatch: "*"), .notModified),
            (.init(ifNoneMatch: "\"other\""), .proceed),
            (.init(ifNoneMatch: "\"other\"", ifModifiedSince: after), .proceed),
            (.init(ifNoneMatch: tag, ifModifiedSince: before), .notModified),
            (.init(ifNoneMatch: "garbage"), .proceed),
            // If-Modified-Since: not modified since an equal or later date; invalid ignored.
            (.init(ifModifiedSince: same), .notModified),
            (.init(ifModifiedSince: after), .notModified),
            (.init(ifModifiedSince: before), .proceed),
            (.init(ifModifiedSince: "Sun, 06 Nov 1994 08:49:37 GMT, x"), .proceed),
            // 412 comes before 304.
            (.init(ifMatch: "\"other\"", ifNoneMatch: tag), .failed),
            (.init(ifNoneMatch: tag, ifUnmodifiedSince: before), .failed),
            (.init(ifMatch: tag, ifNoneMatch: tag), .notModified),
        ] as [(Preconditions.Fields, Preconditions.Outcome)])
    func preconditionsFollowTheOrderOfSection13_2_2(fields: Preconditions.Fields, expected: Preconditions.Outcome) {
        #expect(Preconditions.evaluate(fields, etag: Self.tag, lastModified: Self.modified) == expected)
    }

    @Test(
        arguments: [
            (tag, true), (" \"abc-1\" ", true), ("\"abc-2\"", false), ("W/\"abc-1\"", false), (same, true),
            (before, false), (after, false), ("garbage", false), ("", false),
        ] as [(String, Bool)])
    func ifRangeNeedsTheCurrentStrongTagOrTheExactDate(value: String, holds: Bool) {
        #expect(Preconditions.ifRangeHolds(value, etag: Self.tag, lastModified: Self.modified) == holds)
    }

    // MARK: Paths

    /// The shortcut for plain paths gives what the general walk gives.
    @Test(arguments: [
        "/", "/a", "/a/", "/a/b/c.txt", "/docs/", "/13b.txt", "/a-b_c~d!$&'()*+,;=:@", "/x.y.z", "/a./b",
        "//a", "/a//b", "/./a", "/a/.", "/.env", "/a/..", "/a%20b", "/a\\b", "/caf%C3%A9", "/café", "/a b",
        "http://host/a", "", "a", "/a/.well-known", "/.well-known/x",
    ])
    func plainPathsResolveAsTheWalkDoes(path: String) {
        #expect(StaticFiles.resolve(path: path) == StaticFiles.walk(path: path))
    }

    // MARK: Names

    @Test(arguments: [
        ("app.3f9a1c.js", true), ("static/js/main.3f9a1c2b.chunk.js", true), ("logo-9b2e41d07a.svg", true),
        ("a1b2c3d4e5f6.png", true), ("style_0a1b2c3d.css", true),
        ("app.js", false), ("facade.js", false), ("app.deadbeef.js", false), ("report.20240115.pdf", false),
        ("jquery-3.7.1.min.js", false), ("app.3F9A1C.js", false), ("app.3f9a1.js", false), ("3f9a1c", true),
        ("dir.3f9a1c/app.js", false), ("app.js.3f9a1c", false),
    ])
    func fingerprintsAreHexHashSegments(name: String, fingerprinted: Bool) {
        #expect(Fingerprint.isFingerprinted(name) == fingerprinted)
    }

    @Test(arguments: [
        (".env", true), (".git/config", true), ("a/.hidden", true), ("a/b/.htaccess", true),
        (".well-known/security.txt", false), (".well-known", false), (".well-known/.x", true),
        ("a/.well-known/x", true), (".well-knownx/y", true), ("a.b/c", false), ("...", true), ("", false),
        ("index.html", false),
    ])
    func dotfilesAreHiddenExceptWellKnown(relative: String, hidden: Bool) {
        #expect(StaticFiles.DotfilePolicy.isHidden(relative) == hidden)
    }

    @Test(arguments: [
        ("a.avif", "image/avif"), ("site.webmanifest", "application/manifest+json"),
        ("app.js.map", "application/json"), ("m.mjs", "text/javascript; charset=utf-8"),
        ("s.ogg", "audio/ogg"), ("s.opus", "audio/opus"), ("f.eot", "application/vnd.ms-fontobject"),
        ("f.otf", "font/otf"), ("c.ics", "text/calendar; charset=utf-8"), ("m.wasm", "application/wasm"),
        ("v.vtt", "text/vtt; charset=utf-8"), ("i.jxl", "image/jxl"), ("d.jsonld", "application/ld+json"),
        ("a.JPG", "image/jpeg"), ("x.unknown", "application/octet-stream"),
    ])
    func theMediaTypeTableCoversTodaysWeb(name: String, type: String) {
        #expect(MediaTypes.forFileName(name) == type)
    }

    @Test func mediaTypeOverridesComeFirst() {
        let overrides = ["webp": "image/x-custom", "foo": "application/x-foo"]
        #expect(MediaTypes.forFileName("a.WEBP", overrides: overrides) == "image/x-custom")
        #expect(MediaTypes.forFileName("a.foo", overrides: overrides) == "application/x-foo")
        #expect(MediaTypes.forFileName("a.png", overrides: overrides) == "image/png")
    }

    static func with(_ change: (inout StaticFiles.Options) -> Void) -> StaticFiles.Options {
        var options = StaticFiles.Options()
        change(&options)
        return options
    }

    @Test(
        arguments: [
            (with { $0.cacheControl = "" }, "--cache-control", "the value is empty"),
            (with { $0.cacheControl = " max-age=1" }, "--cache-control", "not a valid field value"),
            (with { $0.cacheControl = "max-age=1\r\nX: y" }, "--cache-control", "not a valid field value"),
            (with { $0.mimeTypes = ["": "text/plain"] }, "--mime-type", "the extension is empty"),
            (with { $0.mimeTypes = ["a.b": "text/plain"] }, "--mime-type", "no dot or slash"),
            (with { $0.mimeTypes = ["a b": "text/plain"] }, "--mime-type", "letters, digits"),
            (with { $0.mimeTypes = ["x": "text"] }, "--mime-type", "is not a media type"),
            (with { $0.mimeTypes = ["x": "text/"] }, "--mime-type", "is not a media type"),
            (with { $0.mimeTypes = ["x": "te xt/plain"] }, "--mime-type", "is not a media type"),
            (with { $0.fallback = "../index.html" }, "--fallback", "not a file path inside"),
            (with { $0.fallback = "dir/" }, "--fallback", "not a file path inside"),
            (with { $0.fallback = ".app.html" }, "--fallback", "is a dotfile"),
            (with { $0.fileCache = -1 }, "--file-cache", "between 0"),
        ] as [(StaticFiles.Options, String, String)])
    func invalidOptionsAreRefusedNamingTheFlag(options: StaticFiles.Options, option: String, reason: String) {
        #expect {
            try options.validate()
        } throws: { error in
            guard case RaptorError.invalidConfiguration(let named, let message) = error else { return false }
            return named == option && message.contains(reason)
        }
    }

    @Test func validOptionsPass() throws {
        var options = StaticFiles.Options()
        options.cacheControl = "public, max-age=3600"
        options.mimeTypes = ["webp": "image/webp", "x": "text/plain; charset=utf-8", "c++": "text/x-c"]
        options.fallback = "/app/index.html"
        try options.validate()
    }

    // MARK: Listings

    @Test func listingsEscapeNamesAndEncodeLinks() {
        #expect(DirectoryListing.escape("<a href=\"x\">&'") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;")
        #expect(DirectoryListing.percentEncoded("a b:c?#%é") == "a%20b%3Ac%3F%23%25%C3%A9")
        #expect(DirectoryListing.percentEncoded("ok-._~AZaz09") == "ok-._~AZaz09")
        #expect(DirectoryListing.timestamp(1_577_934_245) == "2020-01-02 03:04")
    }
}
