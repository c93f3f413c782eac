import Foundation
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
        let entered = ContinuousClock.now
        defer { GateTimes.record(test, exclusive: isExclusive, since: entered) }
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

/// With RAPTOR_TEST_TIMES set to a file, each test case's time inside the gate is appended
/// to it (`seconds exclusive|concurrent test`): what the suite's wall time is made of, since
/// Swift Testing's own durations include the wait at the gate.
enum GateTimes {
    private static let path = ProcessInfo.processInfo.environment["RAPTOR_TEST_TIMES"]

    static func record(_ test: Test, exclusive: Bool, since entered: ContinuousClock.Instant) {
        guard let path else { return }
        let seconds = entered.duration(to: .now) / .seconds(1)
        let line = String(format: "%.2f %@ %@\n", seconds, exclusive ? "exclusive" : "concurrent", test.id.description)
        let file = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)  // one write per line: no interleaving
        guard file >= 0 else { return }
        _ = line.withCString { write(file, $0, strlen($0)) }
        close(file)
    }
}
