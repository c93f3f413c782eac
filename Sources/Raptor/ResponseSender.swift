internal import CRaptor

/// Hands a `Response` to the engine: status and fields into the head it encodes, then
/// the body in the one way that suits it. Nothing here allocates for a bytes or string
/// body: the engine writes straight from the Swift storage.
enum ResponseSender {
    static func send(_ response: Response, on connection: OpaquePointer) throws {
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
        switch response.body {
        case .empty:
            rv_respond_body(connection, nil, 0)
        case .bytes(let bytes):
            bytes.withUnsafeBufferPointer { _ = rv_respond_body(connection, $0.baseAddress, $0.count) }
        case .string(var text):
            text.withUTF8 { _ = rv_respond_body(connection, $0.baseAddress, $0.count) }
        case .file(let region):
            rv_respond_file(connection, region.fileDescriptor, region.offset, region.length)
        case .fileParts(let body):
            // The texts in one block, as the engine takes them.
            let text = body.parts.flatMap(\.text) + body.tail
            let parts = body.parts.map {
                rv_file_part(offset: $0.offset, length: $0.length, text_length: $0.text.count)
            }
            text.withUnsafeBufferPointer { text in
                _ = rv_respond_file_parts(
                    connection, body.fileDescriptor, parts, UInt32(parts.count), text.baseAddress, text.count)
            }
        case .stream(let produce):
            guard rv_respond_stream_begin(connection) == 0 else { throw RaptorError.clientGone }
            var writer = ResponseBodyWriter(connection: connection)
            try produce(&writer)
            guard rv_respond_stream_end(connection) == 0 else { throw RaptorError.clientGone }
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
