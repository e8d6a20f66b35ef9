import BridgeCore
import Foundation

/// A rule's `when:`: tests on request values combined with all/any/not.
public indirect enum Condition: Sendable {
    case always
    /// A test on one value; `expectation` is the matcher's description, made once when the rule is read (it is
    /// recorded in every webhook's explanation).
    case test(PayloadPath, Matcher, expectation: String)
    case all([Condition])
    case any([Condition])
    case not(Condition)

    /// A test on the value at `path`.
    public static func test(_ path: PayloadPath, _ matcher: Matcher) -> Condition {
        .test(path, matcher, expectation: matcher.description)
    }

    /// One check's outcome, for `try` and recorded explanations.
    public typealias Check = ConditionCheck

    /// Evaluates the condition; `checks` receives each leaf test in order.
    public func evaluate(_ context: MappingContext, checks: inout [Check]) -> Bool {
        switch self {
        case .always:
            return true
        case .test(let path, let matcher, let expectation):
            let value = context.lookup(path)
            let ok = matcher.matches(value)
            checks.append(
                Check(
                    path: path.description, expectation: expectation,
                    seen: value.map { Condition.abbreviate($0) }, passed: ok))
            return ok
        case .all(let cs):
            var ok = true
            for c in cs where !c.evaluate(context, checks: &checks) {
                ok = false
                break
            }
            return ok
        case .any(let cs):
            for c in cs where c.evaluate(context, checks: &checks) { return true }
            return false
        case .not(let c):
            var inner: [Check] = []
            let ok = !c.evaluate(context, checks: &inner)
            checks.append(
                contentsOf: inner.map {
                    Check(path: $0.path, expectation: "not " + $0.expectation, seen: $0.seen, passed: !$0.passed)
                })
            return ok
        }
    }

    static func abbreviate(_ v: JSONValue) -> String {
        let t: String
        if case .string(let s) = v { t = JSONValue.quote(s) } else { t = v.json }
        // At most 80 UTF-8 bytes is at most 80 characters: only a longer text is counted by character.
        return t.utf8.count > 80 && t.count > 80 ? String(t.prefix(79)) + "…" : t
    }

    /// Every path the condition reads.
    public var paths: [PayloadPath] {
        switch self {
        case .always: []
        case .test(let p, _, _): [p]
        case .all(let cs), .any(let cs): cs.flatMap(\.paths)
        case .not(let c): c.paths
        }
    }
}
