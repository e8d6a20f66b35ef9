import BridgeCore
import Foundation

/// `term | filter arg ... | filter ...`
struct Expression: Sendable {
    enum Term: Sendable {
        case path(PayloadPath)
        case literal(JSONValue)
    }

    let term: Term
    let filters: [Filter]

    var paths: [PayloadPath] {
        var out: [PayloadPath] = []
        if case .path(let p) = term { out.append(p) }
        for f in filters { for a in f.arguments { if case .path(let p) = a { out.append(p) } } }
        return out
    }

    static func parse(_ text: String) -> Result<Expression, TemplateError> {
        let tokens: [Token]
        switch Token.lex(text) {
        case .success(let t): tokens = t
        case .failure(let e): return .failure(e)
        }
        // Split on pipes.
        var groups: [[Token]] = [[]]
        for t in tokens {
            if case .pipe = t.kind { groups.append([]) } else { groups[groups.count - 1].append(t) }
        }
        guard let head = groups.first, head.count == 1 else {
            let offset = groups.first?.dropFirst().first?.offset ?? 0
            return .failure(
                TemplateError(
                    offset: offset,
                    message: groups.first?.isEmpty ?? true
                        ? "empty expression" : "expected '|' between a value and a filter"))
        }
        let headTerm: Term
        switch Expression.term(from: head[0]) {
        case .success(let t): headTerm = t
        case .failure(let e): return .failure(e)
        }
        var filters: [Filter] = []
        for group in groups.dropFirst() {
            guard let nameToken = group.first, case .word(let name) = nameToken.kind else {
                return .failure(
                    TemplateError(
                        offset: group.first?.offset ?? text.count, message: "expected a filter name after '|'"))
            }
            guard let kind = Filter.Kind(rawValue: name) else {
                return .failure(
                    TemplateError(
                        offset: nameToken.offset,
                        message:
                            "unknown filter '\(name)'\(suggestion(name, Filter.Kind.allCases.map(\.rawValue))) "
                            + "(filters: \(Filter.Kind.allCases.map(\.rawValue).joined(separator: ", ")))"
                    ))
            }
            var args: [Term] = []
            for tok in group.dropFirst() {
                switch self.term(from: tok) {
                case .success(let t): args.append(t)
                case .failure(let e): return .failure(e)
                }
            }
            guard kind.arity.contains(args.count) else {
                let expected =
                    kind.arity.lowerBound == kind.arity.upperBound
                    ? "\(kind.arity.lowerBound)" : "\(kind.arity.lowerBound) to \(kind.arity.upperBound)"
                return .failure(
                    TemplateError(
                        offset: nameToken.offset,
                        message:
                            "filter '\(name)' takes \(expected) argument\(kind.arity.upperBound == 1 ? "" : "s"), "
                            + "got \(args.count)"
                    ))
            }
            if let problem = kind.checkArguments(args) {
                return .failure(TemplateError(offset: nameToken.offset, message: problem))
            }
            filters.append(Filter(kind: kind, arguments: args))
        }
        return .success(Expression(term: headTerm, filters: filters))
    }

    private static func term(from token: Token) -> Result<Term, TemplateError> {
        switch token.kind {
        case .string(let s): return .success(.literal(.string(s)))
        case .number(let n): return .success(.literal(.number(n)))
        case .word(let w):
            if w == "true" { return .success(.literal(.bool(true))) }
            if w == "false" { return .success(.literal(.bool(false))) }
            if w == "null" { return .success(.literal(.null)) }
            switch PayloadPath.parse(w) {
            case .success(let p): return .success(.path(p))
            case .failure(let e): return .failure(TemplateError(offset: token.offset, message: e.description))
            }
        case .pipe:
            return .failure(TemplateError(offset: token.offset, message: "unexpected '|'"))
        }
    }

    func evaluate(_ context: MappingContext) throws -> JSONValue? {
        var value: JSONValue?
        switch term {
        case .literal(let v): value = v
        case .path(let p): value = context.lookup(p)
        }
        for filter in filters { value = try filter.apply(value, context) }
        return value
    }
}
