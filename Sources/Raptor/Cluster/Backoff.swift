/// When to respawn a worker that died: at once after a death that ends a good run, later
/// and later while the slot's workers keep dying young (a crash loop), so a broken build or
/// a handler that kills its worker on every request never makes the master fork thousands
/// of processes.
///
/// A death within `window` seconds of the fork is a quick death. The first respawns at
/// once; each further one in a row doubles the delay: 0.5 s, 1 s, 2 s ... up to `cap`.
/// A worker that lived longer than `window` resets the count.
struct Backoff: Equatable {
    var window: Double = 5
    var initial: Double = 0.5
    var cap: Double = 30
    /// Quick deaths in a row.
    private(set) var quickDeaths = 0

    /// Records a death after `lifetime` seconds; returns the delay before the respawn.
    mutating func delay(afterLifetime lifetime: Double) -> Double {
        if lifetime >= window {
            quickDeaths = 0
            return 0
        }
        quickDeaths += 1
        guard quickDeaths > 1 else { return 0 }
        let exponent = Double(min(quickDeaths - 2, 30))
        return min(cap, initial * (1 << Int(exponent)).asDouble)
    }

    mutating func reset() { quickDeaths = 0 }
}

extension Int {
    fileprivate var asDouble: Double { Double(self) }
}
