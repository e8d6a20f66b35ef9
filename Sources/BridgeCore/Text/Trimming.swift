extension StringProtocol where UTF8View: BidirectionalCollection {
    /// The text without leading and trailing white space or newlines (Unicode White_Space). A plain Swift loop:
    /// Foundation's `trimmingCharacters(in:)` goes through NSString and was a measurable share of a webhook's CPU.
    public var trimmed: String {
        let utf8 = self.utf8
        guard let first = utf8.first else { return "" }
        let last = utf8[utf8.index(before: utf8.endIndex)]
        // Fast path: printable ASCII at both ends, nothing to trim.
        if first > 0x20, first < 0x7f, last > 0x20, last < 0x7f { return String(self) }
        guard let start = firstIndex(where: { !$0.isWhitespace }) else { return "" }
        let end = lastIndex(where: { !$0.isWhitespace })!
        return String(self[start...end])
    }
}
