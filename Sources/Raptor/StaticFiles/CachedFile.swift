#if canImport(Glibc)
    import Glibc
#endif

/// What a name under the served directory leads to: the file, its usable precompressed
/// siblings (`x.br`, `x.zst`, `x.gz` not older than `x`), and the identities on disk
/// that tell when any of them changed.
final class CachedFile: Sendable {
    /// The name it was opened by, relative to the root (the cache's key).
    let name: String
    let file: FileRepresentation
    /// Usable siblings, in the order of `ContentCoding.allCases` (the server's preference).
    let encoded: [FileRepresentation]
    let codings: [ContentCoding]
    /// The identity of the file and of each sibling name (nil: nothing there) when opened;
    /// a stat of the same names giving anything else means it changed.
    let signature: [FileIdentity?]

    private init(name: String, file: FileRepresentation, encoded: [FileRepresentation], signature: [FileIdentity?]) {
        self.name = name
        self.file = file
        self.encoded = encoded
        self.codings = encoded.compactMap(\.coding)
        self.signature = signature
    }

    /// The representation to send for a coding chosen among `codings` (nil: the file).
    func representation(_ coding: ContentCoding?) -> FileRepresentation {
        guard let coding else { return file }
        return encoded.first { $0.coding == coding } ?? file
    }

    /// Builds the entry for `name`, whose file is open at `descriptor` (taken over) with
    /// `status`; opens the siblings when `precompressed`.
    static func load(
        name: String, descriptor: Int32, status: stat, root: ServedRoot, precompressed: Bool, contentType: String,
        cacheControl: String?
    ) -> CachedFile {
        var siblings: [(ContentCoding, Int32, stat)] = []
        var signature: [FileIdentity?] = [FileIdentity(status)]
        if precompressed {
            for coding in ContentCoding.allCases {
                let siblingName = name + coding.fileSuffix
                guard case .entry(let sibling, let siblingStatus) = root.openEntry(siblingName) else {
                    // Missing, or refused (outside the root): remembered as the stat sees it,
                    // so that the next check does not mistake it for a change.
                    signature.append(identity(of: siblingName, root: root))
                    continue
                }
                signature.append(FileIdentity(siblingStatus))
                // A sibling older than the file was made from an earlier version of it.
                if siblingStatus.st_mode & S_IFMT == S_IFREG
                    && !isEarlier(siblingStatus.st_mtim, than: status.st_mtim)
                {
                    siblings.append((coding, sibling, siblingStatus))
                } else {
                    close(sibling)
                }
            }
        }
        let vary = !siblings.isEmpty
        let file = FileRepresentation(
            descriptor: descriptor, status: status, coding: nil, contentType: contentType,
            cacheControl: cacheControl, vary: vary)
        let encoded = siblings.map { coding, sibling, siblingStatus in
            FileRepresentation(
                descriptor: sibling, status: siblingStatus, coding: coding, contentType: contentType,
                cacheControl: cacheControl, vary: vary)
        }
        return CachedFile(name: name, file: file, encoded: encoded, signature: signature)
    }

    /// True while the names still lead to what was opened: one stat per name (following
    /// symlinks, as the open did).
    func isCurrent(root: ServedRoot) -> Bool {
        guard let first = signature.first, Self.identity(of: name, root: root) == first else { return false }
        for (coding, expected) in zip(ContentCoding.allCases, signature.dropFirst())
        where Self.identity(of: name + coding.fileSuffix, root: root) != expected {
            return false
        }
        return true
    }

    private static func identity(of name: String, root: ServedRoot) -> FileIdentity? {
        var status = stat()
        return fstatat(root.descriptor, name, &status, 0) == 0 ? FileIdentity(status) : nil
    }

    private static func isEarlier(_ time: timespec, than other: timespec) -> Bool {
        time.tv_sec < other.tv_sec || (time.tv_sec == other.tv_sec && time.tv_nsec < other.tv_nsec)
    }
}
