import Testing

/// Which integration tests may run at the same time. Swift Testing runs tests in parallel;
/// CI has two cores, and many of these tests bound a time or make heavy load. So every
/// suite that starts processes says which kind it is (ChildProcess records an issue when a
/// test did not):
///
/// - `.concurrent`: light request/response tests with no time bound a busy machine could
///   break. Up to `concurrentWidth` of them run at once.
/// - `.exclusive`: anything whose result depends on time (timers, delays, kills, signals,
///   "within N seconds"), anything that makes load (load clients, big bodies, builds). It
///   runs alone: no other integration test runs meanwhile.
///
/// Put it on the suite (`@Suite(.concurrent)`); a test of a concurrent suite that needs
/// the machine to itself adds `@Test(.exclusive, ...)`.
struct MachineSharing: TestTrait, SuiteTrait, TestScoping {
    /// Light tests at once: CI's two cores.
    static let concurrentWidth = 2

    let isExclusive: Bool
    /// This declaration, apart from an equal one elsewhere.
    private let identity = Identity()
    private final class Identity: Sendable {}

    /// Every test case of the suite waits for its turn.
    var isRecursive: Bool { true }

    /// Only the innermost declaration a test case inherits takes it through the gate (its
    /// own `@Test(.exclusive)` over its suite's `.concurrent`): entering twice would wait on
    /// itself.
    func scopeProvider(for test: Test, testCase: Test.Case?) -> MachineSharing? {
        let innermost = test.traits.last { $0 is MachineSharing } as? MachineSharing
        return testCase != nil && innermost?.identity === identity ? self : nil
    }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        await MachineGate.shared.enter(exclusive: isExclusive)
        do {
            try await function()
        } catch {
            await MachineGate.shared.leave(exclusive: isExclusive)
            throw error
        }
        await MachineGate.shared.leave(exclusive: isExclusive)
    }

    /// Records an issue when the running test declares neither kind.
    static func checkDeclared() {
        guard let test = Test.current, !test.traits.contains(where: { $0 is MachineSharing }) else { return }
        let problem =
            "\(test.name) starts processes but its suite declares neither @Suite(.concurrent) nor @Suite(.exclusive)"
            + " (Harness/MachineSharing.swift says which to choose)"
        Issue.record(Comment(rawValue: problem))
    }
}

extension Trait where Self == MachineSharing {
    /// May run beside other concurrent tests (see MachineSharing).
    static var concurrent: Self { MachineSharing(isExclusive: false) }
    /// Runs alone (see MachineSharing).
    static var exclusive: Self { MachineSharing(isExclusive: true) }
}

/// A fair readers-writer gate: concurrent tests share it (up to a width), an exclusive test
/// holds it alone. Tests enter in the order they asked, so an exclusive test waiting keeps
/// later concurrent ones from overtaking it. Waiting suspends the test's task; it never
/// blocks a thread.
actor MachineGate {
    static let shared = MachineGate()

    private var concurrentInside = 0
    private var exclusiveInside = false
    private var waiting: [(exclusive: Bool, continuation: CheckedContinuation<Void, Never>)] = []

    func enter(exclusive: Bool) async {
        if waiting.isEmpty && admits(exclusive: exclusive) {
            admit(exclusive: exclusive)
            return
        }
        await withCheckedContinuation { waiting.append((exclusive, $0)) }
    }

    func leave(exclusive: Bool) {
        if exclusive { exclusiveInside = false } else { concurrentInside -= 1 }
        while let next = waiting.first, admits(exclusive: next.exclusive) {
            waiting.removeFirst()
            admit(exclusive: next.exclusive)
            next.continuation.resume()
        }
    }

    private func admits(exclusive: Bool) -> Bool {
        if exclusiveInside { return false }
        return exclusive ? concurrentInside == 0 : concurrentInside < MachineSharing.concurrentWidth
    }

    private func admit(exclusive: Bool) {
        if exclusive { exclusiveInside = true } else { concurrentInside += 1 }
    }
}
