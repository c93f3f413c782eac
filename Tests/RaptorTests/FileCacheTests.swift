import Foundation
import Synchronization
import Testing

@testable import Raptor

#if canImport(Glibc)
    import Glibc
#endif

/// The open-file cache on its own, with a clock the test moves: the bound and the CLOCK
/// eviction, and the revalidation that only one request claims.
@Suite struct FileCacheTests {
    /// A served directory with files a, b, c.
    final class Directory {
        let path: String
        let root: ServedRoot

        init() throws {
            path =
                FileManager.default.temporaryDirectory.appendingPathComponent("raptor-cache-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            for name in ["a", "b", "c"] {
                try Data("file \(name)\n".utf8).write(to: URL(fileURLWithPath: path + "/" + name))
            }
            root = try ServedRoot(path: path)
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }

        func load(_ name: String) throws -> CachedFile {
            guard case .entry(let descriptor, let status) = root.openEntry(name) else {
                throw CocoaError(.fileNoSuchFile)
            }
            return CachedFile.load(
                name: name, descriptor: descriptor, status: status, root: root, precompressed: true,
                contentType: "text/plain", cacheControl: nil)
        }
    }

    final class ManualClock: Sendable {
        let nanoseconds = Atomic<Int64>(0)
        func advance(_ duration: Duration) {
            let (seconds, attoseconds) = duration.components
            nanoseconds.add(seconds * 1_000_000_000 + attoseconds / 1_000_000_000, ordering: .relaxed)
        }
        var read: @Sendable () -> Int64 { { self.nanoseconds.load(ordering: .relaxed) } }
    }

    func isFresh(_ lookup: FileCache.Lookup) -> Bool { if case .fresh = lookup { true } else { false } }
    func isDue(_ lookup: FileCache.Lookup) -> Bool { if case .due = lookup { true } else { false } }
    func isAbsent(_ lookup: FileCache.Lookup) -> Bool { if case .absent = lookup { true } else { false } }

    @Test func holdsAtMostItsCapacityAndKeepsWhatWasUsed() throws {
        let directory = try Directory()
        let cache = FileCache(capacity: 2, clock: ManualClock().read)
        cache.store(try directory.load("a"))
        cache.store(try directory.load("b"))
        #expect(isFresh(cache.lookup("a")))  // a is used again: b goes first
        cache.store(try directory.load("c"))
        #expect(cache.count == 2)
        #expect(isFresh(cache.lookup("a")))
        #expect(isAbsent(cache.lookup("b")))
        #expect(isFresh(cache.lookup("c")))
    }

    @Test func anEntryIsCheckedAgainAfterItsValidityByOneRequestOnly() throws {
        let directory = try Directory()
        let clock = ManualClock()
        let cache = FileCache(capacity: 4, validity: .seconds(1), clock: clock.read)
        let file = try directory.load("a")
        cache.store(file)
        clock.advance(.milliseconds(999))
        #expect(isFresh(cache.lookup("a")))
        clock.advance(.milliseconds(1))
        #expect(isDue(cache.lookup("a")))
        // The first one owns the check; the others use the entry meanwhile.
        #expect(isFresh(cache.lookup("a")))
        #expect(file.isCurrent(root: directory.root))
        // A replaced file is another version.
        try Data("new a\n".utf8).write(to: URL(fileURLWithPath: directory.path + "/a"), options: .atomic)
        #expect(!file.isCurrent(root: directory.root))
        cache.remove(file)
        #expect(isAbsent(cache.lookup("a")))
        #expect(cache.count == 0)
    }

    @Test func aCacheOfNoEntriesKeepsNothing() throws {
        let directory = try Directory()
        let cache = FileCache(capacity: 0)
        cache.store(try directory.load("a"))
        #expect(isAbsent(cache.lookup("a")))
    }

    @Test func aNewSiblingIsAChange() throws {
        let directory = try Directory()
        let file = try directory.load("a")
        #expect(file.codings.isEmpty)
        try Data("zz".utf8).write(to: URL(fileURLWithPath: directory.path + "/a.gz"))
        #expect(!file.isCurrent(root: directory.root))
        #expect(try directory.load("a").codings == [.gzip])
    }
}
