/// USR2: every slot's worker is replaced by one of the new phase, one slot at a time. Each
/// replacement boots before the worker it replaces is stopped (`Master.replace`), so the
/// cluster never serves with fewer workers, and a build that cannot boot stops the restart
/// at its first worker while the others go on serving.
///
/// This type only decides which slot comes next; the master forks, promotes and stops.
struct PhasedRestart {
    /// What the master does next for the restart.
    enum Step: Equatable {
        /// Start a replacement for this slot's worker (again on the next turn if the fork
        /// failed).
        case replace(slot: Int)
        /// A slot's replacement is booting.
        case wait
        /// Every slot's worker is of `phase`.
        case finished
    }

    /// A slot as the restart sees it.
    struct SlotState {
        /// A replacement is booting for the slot.
        var replacing: Bool
        /// The phase of the slot's current worker; nil while it has none (the one it gets
        /// next is of the new phase anyway).
        var currentPhase: Int?
    }

    let phase: Int
    /// Slots before this one are done.
    private(set) var slot = 0

    init(phase: Int) {
        self.phase = phase
    }

    mutating func nextStep(_ slots: [SlotState]) -> Step {
        while slot < slots.count {
            if slots[slot].replacing { return .wait }
            if let current = slots[slot].currentPhase, current < phase { return .replace(slot: slot) }
            slot += 1
        }
        return .finished
    }
}
