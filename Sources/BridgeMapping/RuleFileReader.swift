import BridgeCore
import BridgeVerification
import Foundation
import Yams

/// Walks a composed YAML document, validating as it goes.
struct RuleFileReader {
    let file: String
    let environment: [String: String]
    var diagnostics: [Diagnostic] = []
    /// Literal team names, with where they are written (checked against GET /teams by `check`).
    var teamNames: [SourceDefinition.TeamName] = []

    init(file: String, environment: [String: String]) {
        self.file = file
        self.environment = environment
    }

    var directory: String { (file as NSString).deletingLastPathComponent }

    // MARK: diagnostics

    mutating func report(_ node: Node?, _ severity: Diagnostic.Severity, _ message: String, columnOffset: Int = 0) {
        let mark = node?.mark
        diagnostics.append(
            Diagnostic(
                file: file, line: mark?.line ?? 1, column: (mark?.column ?? 1) + columnOffset, severity: severity,
                message: message))
    }

    mutating func error(_ node: Node?, _ message: String, columnOffset: Int = 0) {
        report(node, .error, message, columnOffset: columnOffset)
    }

    mutating func warning(_ node: Node?, _ message: String) { report(node, .warning, message) }

    mutating func yamlError(_ error: YamlError) {
        func add(_ mark: Mark, _ message: String) {
            diagnostics.append(
                Diagnostic(file: file, line: mark.line, column: mark.column, severity: .error, message: message))
        }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            add(mark, "invalid YAML: \(problem)" + (context.map { " (\($0.text))" } ?? ""))
        case .duplicatedKeysInMapping(let duplicates, let context):
            add(
                context.mark,
                "duplicate key\(duplicates.count > 1 ? "s" : "") "
                    + "\(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in a mapping"
            )
        default:
            diagnostics.append(
                Diagnostic(file: file, line: 1, column: 1, severity: .error, message: "invalid YAML: \(error)"))
        }
    }

    // MARK: primitives

    /// The pairs of a mapping, reporting unknown keys (with a suggestion) and a non-mapping node.
    mutating func mapping(_ node: Node, allowed: [String], what: String) -> [(key: String, keyNode: Node, value: Node)]?
    {
        guard let mapping = node.mapping else {
            error(node, "\(what) must be a mapping of keys to values")
            return nil
        }
        var out: [(String, Node, Node)] = []
        for (k, v) in mapping {
            guard let key = k.scalar?.string else {
                error(k, "keys in \(what) must be plain strings")
                continue
            }
            if !allowed.contains(key) {
                error(k, "unknown key '\(key)' in \(what)\(suggestion(key, allowed))")
                continue
            }
            out.append((key, k, v))
        }
        return out
    }

    mutating func string(_ node: Node, what: String) -> String? {
        guard let scalar = node.scalar else {
            error(node, "\(what) must be a single value, not a \(node.mapping != nil ? "mapping" : "list")")
            return nil
        }
        return scalar.string
    }

    mutating func nonEmptyString(_ node: Node, what: String) -> String? {
        guard let s = string(node, what: what) else { return nil }
        if s.isEmpty {
            error(node, "\(what) must not be empty")
            return nil
        }
        return s
    }

    mutating func bool(_ node: Node, what: String) -> Bool? {
        guard let s = string(node, what: what) else { return nil }
        switch s {
        case "true", "True", "yes": return true
        case "false", "False", "no": return false
        default:
            error(node, "\(what) must be true or false, not '\(s)'")
            return nil
        }
    }

    mutating func number(_ node: Node, what: String) -> Double? {
        guard let s = string(node, what: what) else { return nil }
        guard let n = Double(s), n.isFinite else {
            error(node, "\(what) must be a number, not '\(s)'")
            return nil
        }
        return n
    }

    mutating func sequence(_ node: Node, what: String) -> [Node]? {
        if let seq = node.sequence { return Array(seq) }
        error(node, "\(what) must be a list")
        return nil
    }

    /// Expands `${NAME}` and `${NAME:-default}` from the environment; unset names become empty.
    func expand(_ text: String) -> (value: String, references: [String]) {
        var out = ""
        var refs: [String] = []
        var rest = text[...]
        while let start = rest.range(of: "${") {
            out += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                out += rest[start.lowerBound...]
                rest = ""
                break
            }
            let inner = String(rest[start.upperBound..<end])
            let parts = inner.components(separatedBy: ":-")
            refs.append(parts[0])
            let value = environment[parts[0]].flatMap { $0.isEmpty ? nil : $0 } ?? (parts.count > 1 ? parts[1] : "")
            out += value
            rest = rest[rest.index(after: end)...]
        }
        out += rest
        return (out, refs)
    }

    mutating func template(_ node: Node, what: String) -> Template? {
        guard let text = string(node, what: what) else { return nil }
        switch Template.parse(text) {
        case .success(let t): return t
        case .failure(let e):
            error(node, "\(what): \(e.message)", columnOffset: templateColumnOffset(node, e.offset))
            return nil
        }
    }

    /// Column offset of a character inside a scalar: only exact for plain and single-line quoted scalars.
    func templateColumnOffset(_ node: Node, _ offset: Int) -> Int {
        guard let scalar = node.scalar else { return 0 }
        switch scalar.style {
        case .plain: return offset
        case .singleQuoted, .doubleQuoted: return offset + 1
        default: return 0
        }
    }

    /// A time: a bare path (`payload.created_at`) or a template.
    mutating func timeTemplate(_ node: Node, what: String) -> Template? {
        guard let text = string(node, what: what) else { return nil }
        if text.contains("{{") { return template(node, what: what) }
        return pathTemplate(node, text, what: what)
    }

    mutating func pathTemplate(_ node: Node, _ text: String, what: String) -> Template? {
        switch PayloadPath.parse(text) {
        case .success: break
        case .failure(let e):
            error(node, "\(what): \(e.description)")
            return nil
        }
        if case .success(let t) = Template.parse("{{ \(text) }}") { return t }
        error(node, "\(what): '\(text)' is not a path")
        return nil
    }

    mutating func path(_ node: Node, _ text: String, what: String) -> PayloadPath? {
        switch PayloadPath.parse(text) {
        case .success(let p): return p
        case .failure(let e):
            error(node, "\(what): \(e.description)")
            return nil
        }
    }
}
