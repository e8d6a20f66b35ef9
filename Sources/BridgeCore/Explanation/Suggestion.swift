/// "did you mean": the candidate closest to `word` (case-insensitive), as a clause to append to an error, or
/// an empty string when nothing is close enough.
package func suggestion(_ word: String, _ candidates: [String]) -> String {
    let lowered = word.lowercased()
    let best = candidates.map { ($0, editDistance(lowered, $0.lowercased())) }.min { $0.1 < $1.1 }
    guard let best, best.1 <= max(1, word.count / 3) else { return "" }
    return "; did you mean '\(best.0)'?"
}

/// Optimal string alignment distance: insertions, deletions, substitutions and transpositions of two
/// adjacent characters each cost 1, so `tpye` is one edit from `type`.
package func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var before = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            var d = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                d = min(d, before[j - 2] + 1)
            }
            current[j] = d
        }
        (before, previous, current) = (previous, current, before)
    }
    return previous[b.count]
}
