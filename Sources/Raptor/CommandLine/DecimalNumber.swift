/// The number at the start of a size or a duration (`1.5` of `1.5s`), kept as digits so it
/// scales by a unit exactly: 0.1 s is 100 ms, not the 99.99... ms a Double would give.
struct DecimalNumber {
    /// The digits before the point, as a number; nil when they overflow a UInt64 (the
    /// number is then too large for any use, which `scaled(by:)` reports).
    let whole: UInt64?
    /// The digits after the point, as written (`"05"` for `1.05`).
    let fraction: Substring
    /// How many characters of the text the number took.
    let length: Int

    /// Reads `DIGITS` or `DIGITS.DIGITS` from the start of `text`; nil when it does not
    /// start with one.
    init?(prefixOf text: String) {
        let isDigit: (Character) -> Bool = { ("0"..."9").contains($0) }
        let wholeDigits = text.prefix(while: isDigit)
        guard !wholeDigits.isEmpty else { return nil }
        var fraction: Substring = ""
        var length = wholeDigits.count
        let rest = text.dropFirst(length)
        if rest.first == "." {
            fraction = rest.dropFirst().prefix(while: isDigit)
            guard !fraction.isEmpty else { return nil }
            length += 1 + fraction.count
        }
        self.whole = UInt64(wholeDigits)
        self.fraction = fraction
        self.length = length
    }

    /// The number times `multiplier`, rounded down to a whole number; nil on overflow.
    func scaled(by multiplier: UInt64) -> UInt64? {
        guard let whole else { return nil }
        let (wholePart, overflow) = whole.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        // The fraction as numerator / denominator, scaled then divided, so it is rounded
        // once, at the end. Digits past the 18th are ignored: with every multiplier in use
        // (at most an hour in nanoseconds, 3.6e12) they weigh less than a millionth of a unit.
        var numerator: UInt64 = 0
        var denominator: UInt64 = 1
        for digit in fraction.prefix(18) {
            numerator = numerator * 10 + UInt64(digit.wholeNumberValue ?? 0)  // an ASCII digit
            denominator *= 10
        }
        // numerator < denominator, so the quotient is below multiplier: it cannot overflow.
        let fractionPart = denominator.dividingFullWidth(
            numerator.multipliedFullWidth(by: multiplier)
        )
        .quotient
        let (total, sumOverflow) = wholePart.addingReportingOverflow(fractionPart)
        return sumOverflow ? nil : total
    }
}
