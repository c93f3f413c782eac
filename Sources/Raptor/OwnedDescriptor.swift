import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A file descriptor with one owner at a time: this object until `take()` hands it on
/// (to the engine, which closes it after sending), else closed when the last reference
/// goes. The exchange makes a second `take()` (a copy of the same `FileRegion` sent
/// again, from any thread) get nil instead of a descriptor that is closed or, worse,
/// already reused for something else.
final class OwnedDescriptor: Sendable {
    private let value: Atomic<Int32>

    init(_ descriptor: Int32) {
        value = Atomic(descriptor)
    }

    /// The descriptor, which the caller must close; nil when it was taken before.
    func take() -> Int32? {
        let descriptor = value.exchange(-1, ordering: .acquiringAndReleasing)
        return descriptor >= 0 ? descriptor : nil
    }

    /// Runs `body` with the descriptor while this object owns it (-1 once taken).
    func withDescriptor<Result>(_ body: (Int32) throws -> Result) rethrows -> Result {
        try body(value.load(ordering: .acquiring))
    }

    deinit {
        let descriptor = value.load(ordering: .acquiring)
        if descriptor >= 0 { close(descriptor) }
    }
}
