@_spi(Fuzzing) import BridgeMapping

/// A pattern, a NUL byte, and a value (without a NUL byte, the input is the pattern and is also matched against
/// itself). A pattern is either refused with a sentence or compiled; a compiled one is run on the whole value, and
/// its steps must stay within the linear bound the engine promises (a trap otherwise, which libFuzzer reports).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRegex(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let split = bytes.firstIndex(of: 0)
    let pattern = String(decoding: bytes[..<(split ?? size)], as: UTF8.self)
    let value = split.map { String(decoding: bytes[($0 + 1)...], as: UTF8.self) } ?? pattern
    let regex: BoundedRegex
    do {
        regex = try BoundedRegex(pattern)
    } catch {
        let text = "\(error)"
        precondition(text.hasPrefix("regex "), "a refusal that is not a sentence about the regex: \(text)")
        return 0
    }
    let (matched, steps, bound) = regex.matchCountingSteps(value)
    precondition(steps <= bound, "\(steps) steps, above the bound \(bound), for /\(pattern)/")
    if value.unicodeScalars.count <= BoundedRegex.maxInput {
        precondition(regex.matches(value) == matched, "matches and matchCountingSteps disagree on /\(pattern)/")
    }
    return 0
}
