internal import CRaptor

/// Hands a `Response` to the engine: status and fields into the head it encodes, then
/// the body in the one way that suits it. Nothing here allocates for a bytes or string
/// body: the engine writes straight from the Swift storage.
enum ResponseSender {
    /// Throws before anything is written when the response cannot be sent (an interim
    /// status, a file region sent before), so the caller can still answer 500.
    static func send(_ response: Response, on connection: OpaquePointer) throws {
        // HTTPResponse.Status admits 100...999; a 1xx cannot end an exchange (RFC 9110
        // section 15.2), and the engine would quietly turn it into a 500.
        guard response.status.code >= 200 else { throw RaptorError.interimStatus(response.status.code) }
        // One switch, each case starting the head itself: a look at the body before it (for
        // the file case) copied the body, 21 instructions per response.
        switch response.body {
        case .empty:
            startHead(of: response, on: connection)
            rv_respond_body(connection, nil, 0)
        case .bytes(let bytes):
            startHead(of: response, on: connection)
            bytes.withUnsafeBufferPointer { _ = rv_respond_body(connection, $0.baseAddress, $0.count) }
        case .string(var text):
            startHead(of: response, on: connection)
            text.withUTF8 { _ = rv_respond_body(connection, $0.baseAddress, $0.count) }
        case .file(let region):
            guard let descriptor = region.descriptor.take() else { throw RaptorError.fileRegionAlreadySent }
            startHead(of: response, on: connection)
            // The engine closes the descriptor, whatever becomes of the response.
            rv_respond_file(connection, descriptor, region.offset, region.length)
        case .fileParts(let body):
            guard let descriptor = body.descriptor.take() else { throw RaptorError.fileRegionAlreadySent }
            startHead(of: response, on: connection)
            // The texts in one block, as the engine takes them.
            let text = body.parts.flatMap(\.text) + body.tail
            let parts = body.parts.map {
                rv_file_part(offset: $0.offset, length: $0.length, text_length: $0.text.count)
            }
            text.withUnsafeBufferPointer { text in
                _ = rv_respond_file_parts(
                    connection, descriptor, parts, UInt32(parts.count), text.baseAddress, text.count)
            }
        case .stream(let produce):
            startHead(of: response, on: connection)
            guard rv_respond_stream_begin(connection) == 0 else { throw RaptorError.clientGone }
            var writer = ResponseBodyWriter(connection: connection)
            try produce(&writer)
            guard rv_respond_stream_end(connection) == 0 else { throw RaptorError.clientGone }
        }
    }

    /// The status and the handler's fields, into the head the engine encodes.
    @inline(__always)
    private static func startHead(of response: Response, on connection: OpaquePointer) {
        rv_respond_start(connection, UInt32(response.status.code))
        for field in response.headers {
            var name = field.name.rawName
            var value = field.value
            name.withUTF8 { name in
                value.withUTF8 { value in
                    // Invalid names and values with CR/LF are dropped by the engine.
                    _ = rv_respond_field(connection, name.baseAddress, name.count, value.baseAddress, value.count)
                }
            }
        }
    }
}

/// Writes a streamed response body. Each write goes out at once (as one chunk on
/// HTTP/1.1) and blocks while the client is slow, up to the write timeout.
public struct ResponseBodyWriter {
    let connection: OpaquePointer

    /// Throws `RaptorError.clientGone` when the client went away: stop producing.
    public mutating func write(_ bytes: [UInt8]) throws {
        let result = bytes.withUnsafeBufferPointer { rv_respond_stream_write(connection, $0.baseAddress, $0.count) }
        if result != 0 { throw RaptorError.clientGone }
    }

    public mutating func write(_ text: String) throws {
        var text = text
        let result = text.withUTF8 { rv_respond_stream_write(connection, $0.baseAddress, $0.count) }
        if result != 0 { throw RaptorError.clientGone }
    }
}
