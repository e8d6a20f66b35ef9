import BridgeCore
import Foundation

/// A small, purpose-built template language: literal text with `{{ expression }}` holes.
///
/// An expression is a path or a quoted literal followed by filters: `{{ payload.ref | default "main" | upper }}`.
/// Payload text is only ever data: a value that contains `{{` is inserted as-is and never parsed again.
/// Templates are parsed once, when a rule file is loaded; a bad template is a load-time diagnostic.
public struct Template: Sendable, CustomStringConvertible {
    enum Piece: Sendable {
        case text(String)
        case expression(Expression)
    }

    let pieces: [Piece]
    public let description: String

    /// A template with no holes.
    public static func literal(_ text: String) -> Template { Template(pieces: [.text(text)], description: text) }

    /// True when the template has no expression.
    public var isLiteral: Bool { pieces.allSatisfy { if case .text = $0 { true } else { false } } }

    /// Every path the template reads, for `check`.
    public var paths: [PayloadPath] {
        pieces.flatMap { piece -> [PayloadPath] in
            if case .expression(let e) = piece { return e.paths }
            return []
        }
    }

    /// The paths a rendering needs: those of expressions without a `default`, `prefix` or `suffix` filter
    /// (which mark a value as optional).
    public var requiredPaths: [PayloadPath] {
        pieces.flatMap { piece -> [PayloadPath] in
            if case .expression(let e) = piece, !e.filters.contains(where: { [.default, .prefix, .suffix].contains($0.kind) }) { return e.paths }
            return []
        }
    }

    /// Parses `source`. The error carries the character offset of the problem within `source`.
    public static func parse(_ source: String) -> Result<Template, TemplateError> {
        var pieces: [Piece] = []
        var rest = source[...]
        var offset = 0
        while let open = rest.range(of: "{{") {
            let before = rest[..<open.lowerBound]
            if !before.isEmpty { pieces.append(.text(String(before))) }
            offset += before.count
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                return .failure(TemplateError(offset: offset, message: "'{{' is never closed with '}}'"))
            }
            let inner = String(rest[open.upperBound..<close.lowerBound])
            switch Expression.parse(inner) {
            case .success(let e): pieces.append(.expression(e))
            case .failure(let err):
                return .failure(TemplateError(offset: offset + 2 + err.offset, message: err.message))
            }
            offset += rest[open.lowerBound..<close.upperBound].count
            rest = rest[close.upperBound...]
        }
        if let stray = rest.range(of: "}}") {
            return .failure(TemplateError(offset: offset + rest[..<stray.lowerBound].count, message: "'}}' without an opening '{{'"))
        }
        if !rest.isEmpty { pieces.append(.text(String(rest))) }
        return .success(Template(pieces: pieces, description: source))
    }

    /// Renders to text.
    public func render(_ context: MappingContext) throws -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .text(let t): out += t
            case .expression(let e): out += try e.evaluate(context)?.text ?? ""
            }
        }
        return out
    }

    /// Evaluates to a typed value: a template made of one expression keeps the expression's type
    /// (a number stays a number); anything else renders to a string.
    public func value(_ context: MappingContext) throws -> JSONValue? {
        if pieces.count == 1, case .expression(let e) = pieces[0] { return try e.evaluate(context) }
        return .string(try render(context))
    }
}

public struct TemplateError: Error, Sendable, CustomStringConvertible {
    /// Offset in characters from the start of the template.
    public let offset: Int
    public let message: String
    public var description: String { message }
}

/// An error raised while evaluating a template against a payload (for example a date that cannot be parsed).
public struct TemplateEvaluationError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

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
            return .failure(TemplateError(offset: offset, message: groups.first?.isEmpty ?? true ? "empty expression" : "expected '|' between a value and a filter"))
        }
        let headTerm: Term
        switch Expression.term(from: head[0]) {
        case .success(let t): headTerm = t
        case .failure(let e): return .failure(e)
        }
        var filters: [Filter] = []
        for group in groups.dropFirst() {
            guard let nameToken = group.first, case .word(let name) = nameToken.kind else {
                return .failure(TemplateError(offset: group.first?.offset ?? text.count, message: "expected a filter name after '|'"))
            }
            guard let kind = Filter.Kind(rawValue: name) else {
                return .failure(TemplateError(offset: nameToken.offset, message: "unknown filter '\(name)'\(suggestion(name, Filter.Kind.allCases.map(\.rawValue))) (filters: \(Filter.Kind.allCases.map(\.rawValue).joined(separator: ", ")))"))
            }
            var args: [Term] = []
            for tok in group.dropFirst() {
                switch self.term(from: tok) {
                case .success(let t): args.append(t)
                case .failure(let e): return .failure(e)
                }
            }
            guard kind.arity.contains(args.count) else {
                let expected = kind.arity.lowerBound == kind.arity.upperBound ? "\(kind.arity.lowerBound)" : "\(kind.arity.lowerBound) to \(kind.arity.upperBound)"
                return .failure(TemplateError(offset: nameToken.offset, message: "filter '\(name)' takes \(expected) argument\(kind.arity.upperBound == 1 ? "" : "s"), got \(args.count)"))
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

struct Token: Sendable {
    enum Kind: Sendable {
        case word(String)
        case string(String)
        case number(Double)
        case pipe
    }

    let kind: Kind
    let offset: Int

    static func lex(_ text: String) -> Result<[Token], TemplateError> {
        let chars = Array(text)
        var tokens: [Token] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" || c == "\n" {
                i += 1
            } else if c == "|" {
                tokens.append(Token(kind: .pipe, offset: i))
                i += 1
            } else if c == "\"" || c == "'" {
                let start = i
                i += 1
                var s = ""
                while i < chars.count, chars[i] != c {
                    if chars[i] == "\\", i + 1 < chars.count {
                        i += 1
                        switch chars[i] {
                        case "n": s.append("\n")
                        case "t": s.append("\t")
                        default: s.append(chars[i])
                        }
                    } else {
                        s.append(chars[i])
                    }
                    i += 1
                }
                guard i < chars.count else { return .failure(TemplateError(offset: start, message: "unterminated string literal")) }
                i += 1
                tokens.append(Token(kind: .string(s), offset: start))
            } else {
                let start = i
                var w = ""
                var inQuote = false
                while i < chars.count, inQuote || (chars[i] != " " && chars[i] != "|" && chars[i] != "\t" && chars[i] != "\n") {
                    if chars[i] == "\"" { inQuote.toggle() }
                    w.append(chars[i])
                    i += 1
                }
                if let n = Double(w), w.first.map({ $0.isNumber || $0 == "-" }) == true {
                    tokens.append(Token(kind: .number(n), offset: start))
                } else {
                    tokens.append(Token(kind: .word(w), offset: start))
                }
            }
        }
        return .success(tokens)
    }
}
