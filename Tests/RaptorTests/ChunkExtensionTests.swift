// RFC 9112 7.1.1: the BWS of a chunk-size line and its extensions (issue 9, defect 3:
// http_parser takes only SP after the size; the shim hands it the line without them).

import CRaptor
import Testing

@Suite struct ChunkExtensionTests {
    // RFC 9112 7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
    // BWS = OWS = *( SP / HTAB ): HTAB is as good as SP wherever BWS is allowed.
    @Test(arguments: [
        "5\t;a=b", "5\t\t;a=b", "5 \t;a", "5\t ;a", "5\t;\ta\t=\tb", "5;a\t=\t\"q\"\t;b", "5\t;a=b\t;c",
    ])
    func bwsBeforeAnExtension(sizeLine: String) {
        let outcome = parse(chunkedHead + sizeLine + "\r\nhello\r\n0\t;last\r\n\r\n")
        #expect(outcome.mismatch == nil)
        #expect(outcome.whole.complete, "\(sizeLine.debugDescription): \(outcome.whole)")
        #expect(outcome.whole.body == bytes("hello"))
    }

    // BWS belongs to an extension: whitespace with no ";" after it is not a chunk-size line.
    @Test(arguments: ["5\t", "5 \t", "5\t;a\tb", "0\t"])
    func bwsWithoutAnExtension(sizeLine: String) {
        let outcome = parse(chunkedHead + sizeLine + "\r\nhello\r\n0\r\n\r\n")
        #expect(outcome.mismatch == nil)
        #expect(outcome.whole.status == 400)
    }
}
