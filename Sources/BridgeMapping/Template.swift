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

    /// The UTF-8 size of the literal pieces.
    var literalBytes: Int {
        pieces.reduce(0) { sum, piece in
            if case .text(let t) = piece { return sum + t.utf8.count }
            return sum
        }
    }

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
            if case .expression(let e) = piece,
                !e.filters.contains(where: { [.default, .prefix, .suffix].contains($0.kind) })
            {
                return e.paths
            }
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
            return .failure(
                TemplateError(offset: offset + rest[..<stray.lowerBound].count, message: "'}}' without an opening '{{'")
            )
        }
        if !rest.isEmpty { pieces.append(.text(String(rest))) }
        return .success(Template(pieces: pieces, description: source))
    }

    /// Renders to text.
    public func render(_ context: MappingContext) throws -> String {
        var out = ""
        // Room for the literal text and a typical value per hole, so the text is not copied as it grows.
        if pieces.count > 1 { out.reserveCapacity(literalBytes + 24 * (pieces.count - 1)) }
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
