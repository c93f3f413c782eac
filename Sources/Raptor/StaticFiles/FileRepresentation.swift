import HTTPTypes

#if canImport(Glibc)
    import Glibc
#endif

/// What identifies one version of a file on disk: when any of it changes (a write, a
/// rename over it, a chmod), it is another version.
struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64
    var mode: UInt32
    var size: Int64
    var modifiedSeconds: Int
    var modifiedNanoseconds: Int
    var changedSeconds: Int
    var changedNanoseconds: Int

    init(_ status: stat) {
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
        mode = UInt32(status.st_mode)
        size = Int64(status.st_size)
        modifiedSeconds = Int(status.st_mtim.tv_sec)
        modifiedNanoseconds = Int(status.st_mtim.tv_nsec)
        changedSeconds = Int(status.st_ctim.tv_sec)
        changedNanoseconds = Int(status.st_ctim.tv_nsec)
    }

    /// The strong entity tag of this version (RFC 9110 section 8.8.3): inode, size and
    /// modification time to the nanosecond, in hex, and the coding for a precompressed
    /// representation, so that each coding of a file has its own tag.
    func entityTag(coding: ContentCoding?) -> String {
        let modified =
            UInt64(truncatingIfNeeded: modifiedSeconds) &* 1_000_000_000
            &+ UInt64(truncatingIfNeeded: modifiedNanoseconds)
        var tag = "\"" + String(inode, radix: 16) + "-" + String(size, radix: 16) + "-" + String(modified, radix: 16)
        if let coding { tag += "-" + coding.rawValue }
        return tag + "\""
    }
}

/// One representation of a file, as it was when opened: the file itself or a
/// precompressed sibling. Its validators and the fields of its responses are computed
/// here, once per version, never per request.
final class FileRepresentation: Sendable {
    enum Content: Sendable {
        /// A small file, read whole: it leaves in the same write as the response head.
        case bytes([UInt8])
        /// A larger one, kept open: each response sends a duplicate of the descriptor with
        /// sendfile (the engine closes what it is given; this one stays with the cache).
        case descriptor(Int32)
    }

    let content: Content
    let length: UInt64
    let coding: ContentCoding?
    let contentType: String
    let etag: String
    /// The modification time, in seconds: Last-Modified before the clamp to Date.
    let modified: Int
    let lastModified: String
    /// The fields of a 200 and of a 304 (RFC 9110 section 15.4.5: the validators and the
    /// caching fields the 200 would have).
    let fields: ResponseFields
    let notModifiedFields: ResponseFields

    /// Files up to this size are kept in memory.
    static let inMemoryLimit = 16 << 10

    /// Takes ownership of `descriptor` (an open regular file): reads it when small (and
    /// closes it), keeps it otherwise. `status` is its fstat.
    init(
        descriptor: Int32, status: stat, coding: ContentCoding?, contentType: String, cacheControl: String?,
        vary: Bool
    ) {
        let identity = FileIdentity(status)
        var length = UInt64(max(status.st_size, 0))
        if length <= Self.inMemoryLimit {
            let bytes = Self.read(descriptor, length: Int(length))
            close(descriptor)
            // A file that shrank since fstat: what was read is the content (revalidation
            // sees the new version within the second).
            length = UInt64(bytes.count)
            content = .bytes(bytes)
        } else {
            content = .descriptor(descriptor)
        }
        self.length = length
        self.coding = coding
        self.contentType = contentType
        etag = identity.entityTag(coding: coding)
        modified = identity.modifiedSeconds
        lastModified = HTTPDate.format(modified)
        var fields: [(HTTPField.Name, String)] = [(.contentType, contentType)]
        if let coding { fields.append((.contentEncoding, coding.rawValue)) }
        var notModified: [(HTTPField.Name, String)] = [(.eTag, etag), (.lastModified, lastModified)]
        if vary { notModified.append((.vary, "Accept-Encoding")) }
        if let cacheControl { notModified.append((.cacheControl, cacheControl)) }
        fields += notModified
        fields.append((.acceptRanges, "bytes"))
        self.fields = ResponseFields(fields)
        notModifiedFields = ResponseFields(notModified)
    }

    deinit {
        if case .descriptor(let descriptor) = content { close(descriptor) }
    }

    private static func read(_ descriptor: Int32, length: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            count = 0
            while count < length {
                let got = pread(descriptor, buffer.baseAddress! + count, length - count, off_t(count))
                if got > 0 {
                    count += got
                } else if got < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
        }
    }
}
