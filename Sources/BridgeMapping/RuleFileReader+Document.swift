import BridgeCore
import BridgeVerification
import Foundation
import Yams

/// The top of a rule file: source, description, team, stream token, and the sections below.
extension RuleFileReader {
    static let topKeys = ["source", "description", "verify", "dedupe", "team", "stream_token", "rules", "tests"]

    mutating func sourceDefinition(_ root: Node) -> SourceDefinition? {
        guard let pairs = mapping(root, allowed: RuleFileReader.topKeys, what: "a rule file") else { return nil }
        var name: String?
        var definition = SourceDefinition(
            name: "", file: file, verifier: nil, disabledReason: nil, preset: nil, dedupe: .init(header: nil, key: nil),
            team: nil, streamToken: nil, rules: [], tests: [])
        var verifyNode: Node?
        var testsNode: Node?
        var dedupeNode: Node?
        for (key, _, value) in pairs {
            switch key {
            case "source":
                if let s = nonEmptyString(value, what: "'source'") {
                    if s.range(of: #"^[a-z0-9][a-z0-9_-]*$"#, options: .regularExpression) == nil {
                        error(
                            value,
                            "source name '\(s)' must be lower-case letters, digits, '-' or '_' (it is the URL path "
                                + "/hooks/\(s))"
                        )
                    } else {
                        name = s
                    }
                }
            case "description": _ = string(value, what: "'description'")
            case "verify": verifyNode = value
            case "dedupe": dedupeNode = value
            case "team":
                if let s = string(value, what: "'team'") { definition.team = teamTemplate(value, s) }
            case "stream_token":
                if let s = string(value, what: "'stream_token'") {
                    definition.streamToken = nonEmpty(expand(s).value).map(Secret.init)
                }
            case "rules":
                if let list = sequence(value, what: "'rules'") {
                    var names: Set<String> = []
                    for (i, item) in list.enumerated() {
                        if let rule = rule(item, index: i) {
                            if !names.insert(rule.name).inserted {
                                error(item, "rule name '\(rule.name)' is used twice")
                            }
                            definition.rules.append(rule)
                        }
                    }
                }
            case "tests": testsNode = value
            default: break
            }
        }
        if name == nil, !pairs.contains(where: { $0.key == "source" }) {
            error(root, "missing key 'source' (the source name, as in /hooks/<source>)")
        }
        definition.name = name ?? ""
        if let verifyNode {
            verification(verifyNode, into: &definition)
        } else {
            error(
                root,
                "missing key 'verify': say how webhooks are authenticated (a preset and secrets), or 'verify: "
                    + "{unverified: true}'"
            )
        }
        if let dedupeNode { dedupe(dedupeNode, into: &definition) }
        if let testsNode, let list = sequence(testsNode, what: "'tests'") {
            for (i, item) in list.enumerated() {
                if let t = ruleTest(item, index: i) { definition.tests.append(t) }
            }
        }
        if !pairs.contains(where: { $0.key == "rules" }) {
            warning(root, "no 'rules': every webhook to this source will be ignored")
        }
        return definition
    }

    func nonEmpty(_ s: String) -> String? { s.isEmpty ? nil : s }

    mutating func teamTemplate(_ node: Node, _ text: String) -> Template? {
        let expanded = expand(text).value
        switch Template.parse(expanded) {
        case .success(let t):
            if t.isLiteral, case .name(let name)? = TeamRef(text: expanded) {
                teamNames.append(.init(name: name, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1))
            }
            return t
        case .failure(let e):
            error(node, "'team': \(e.message)")
            return nil
        }
    }
}
