import BridgeCore
import BridgeVerification
import Foundation
import Yams

/// Loads rule files strictly: every unknown key, bad path, bad template and wrong type is a `Diagnostic`
/// with the file, line and column, and all of them are collected before the load fails.
public struct RuleLoader: Sendable {
    /// Values for `${NAME}` references.
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The result of loading a directory or a file.
    public struct Result: Sendable {
        /// The sources to run: all of them, or none when any file has an error.
        public var sources: [SourceDefinition]
        /// Every source whose own file loaded without errors (for `check`, which reports on all of them).
        public var loadedSources: [SourceDefinition] = []
        public var diagnostics: [Diagnostic]
        public var files: [String]
    }

    /// Rule files under `path`: the `.yaml`/`.yml` files of a directory (not its subfolders, not hidden
    /// entries, which keeps Kubernetes' `..data` links out), or `path` itself when it is a file.
    public static func ruleFiles(at path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LoaderError("rule path '\(path)' does not exist")
        }
        guard isDirectory.boolValue else { return [path] }
        let names = try FileManager.default.contentsOfDirectory(atPath: path)
        let base = path.hasSuffix("/") ? String(path.dropLast()) : path
        return names.filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }.sorted().map { "\(base)/\($0)" }
    }

    /// Loads every rule file under `path`.
    public func load(path: String) -> Result {
        let files: [String]
        do {
            files = try RuleLoader.ruleFiles(at: path)
        } catch {
            return Result(sources: [], diagnostics: [Diagnostic(file: path, line: 1, column: 1, severity: .error, message: "\(error)")], files: [])
        }
        var sources: [SourceDefinition] = []
        var diagnostics: [Diagnostic] = []
        var seen: [String: String] = [:]
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                diagnostics.append(Diagnostic(file: file, line: 1, column: 1, severity: .error, message: "cannot read the file"))
                continue
            }
            let (source, diags) = load(file: file, text: String(decoding: data, as: UTF8.self))
            diagnostics += diags
            if let source {
                if let other = seen[source.name] {
                    diagnostics.append(Diagnostic(file: file, line: 1, column: 1, severity: .error, message: "source '\(source.name)' is already defined in \(other)"))
                } else {
                    seen[source.name] = file
                    sources.append(source)
                }
            }
        }
        if files.isEmpty {
            diagnostics.append(Diagnostic(file: path, line: 1, column: 1, severity: .warning, message: "no rule files (*.yaml) found"))
        }
        return Result(sources: diagnostics.hasErrors ? [] : sources, loadedSources: sources, diagnostics: diagnostics.sorted, files: files)
    }

    /// Loads one rule file's text. The source is nil when there are errors.
    public func load(file: String, text: String) -> (SourceDefinition?, [Diagnostic]) {
        var reader = YAMLReader(file: file, environment: environment)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            reader.yamlError(error)
            return (nil, reader.diagnostics)
        } catch {
            reader.diagnostics.append(Diagnostic(file: file, line: 1, column: 1, severity: .error, message: "\(error)"))
            return (nil, reader.diagnostics)
        }
        guard let root else {
            reader.error(nil, "the file is empty; a rule file needs at least 'source' and 'verify'")
            return (nil, reader.diagnostics)
        }
        var source = reader.sourceDefinition(root)
        source?.teamNames = reader.teamNames
        return (reader.diagnostics.hasErrors ? nil : source, reader.diagnostics.sorted)
    }
}

public struct LoaderError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Walks a composed YAML document, validating as it goes.
struct YAMLReader {
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
        diagnostics.append(Diagnostic(file: file, line: mark?.line ?? 1, column: (mark?.column ?? 1) + columnOffset, severity: severity, message: message))
    }

    mutating func error(_ node: Node?, _ message: String, columnOffset: Int = 0) {
        report(node, .error, message, columnOffset: columnOffset)
    }

    mutating func warning(_ node: Node?, _ message: String) { report(node, .warning, message) }

    mutating func yamlError(_ error: YamlError) {
        func add(_ mark: Mark, _ message: String) {
            diagnostics.append(Diagnostic(file: file, line: mark.line, column: mark.column, severity: .error, message: message))
        }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            add(mark, "invalid YAML: \(problem)" + (context.map { " (\($0.text))" } ?? ""))
        case .duplicatedKeysInMapping(let duplicates, let context):
            add(context.mark, "duplicate key\(duplicates.count > 1 ? "s" : "") \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in a mapping")
        default:
            diagnostics.append(Diagnostic(file: file, line: 1, column: 1, severity: .error, message: "invalid YAML: \(error)"))
        }
    }

    // MARK: primitives

    /// The pairs of a mapping, reporting unknown keys (with a suggestion) and a non-mapping node.
    mutating func mapping(_ node: Node, allowed: [String], what: String) -> [(key: String, keyNode: Node, value: Node)]? {
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

    // MARK: document

    static let topKeys = ["source", "description", "verify", "dedupe", "team", "stream_token", "rules", "tests"]

    mutating func sourceDefinition(_ root: Node) -> SourceDefinition? {
        guard let pairs = mapping(root, allowed: YAMLReader.topKeys, what: "a rule file") else { return nil }
        var name: String?
        var definition = SourceDefinition(name: "", file: file, verifier: nil, disabledReason: nil, preset: nil, dedupe: .init(header: nil, key: nil), team: nil, streamToken: nil, rules: [], tests: [])
        var verifyNode: Node?
        var testsNode: Node?
        var dedupeNode: Node?
        for (key, _, value) in pairs {
            switch key {
            case "source":
                if let s = nonEmptyString(value, what: "'source'") {
                    if s.range(of: #"^[a-z0-9][a-z0-9_-]*$"#, options: .regularExpression) == nil {
                        error(value, "source name '\(s)' must be lower-case letters, digits, '-' or '_' (it is the URL path /hooks/\(s))")
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
                if let s = string(value, what: "'stream_token'") { definition.streamToken = nonEmpty(expand(s).value) }
            case "rules":
                if let list = sequence(value, what: "'rules'") {
                    var names: Set<String> = []
                    for (i, item) in list.enumerated() {
                        if let rule = rule(item, index: i) {
                            if !names.insert(rule.name).inserted { error(item, "rule name '\(rule.name)' is used twice") }
                            definition.rules.append(rule)
                        }
                    }
                }
            case "tests": testsNode = value
            default: break
            }
        }
        if name == nil, !pairs.contains(where: { $0.key == "source" }) { error(root, "missing key 'source' (the source name, as in /hooks/<source>)") }
        definition.name = name ?? ""
        if let verifyNode {
            verification(verifyNode, into: &definition)
        } else {
            error(root, "missing key 'verify': say how webhooks are authenticated (a preset and secrets), or 'verify: {unverified: true}'")
        }
        if let dedupeNode { dedupe(dedupeNode, into: &definition) }
        if let testsNode, let list = sequence(testsNode, what: "'tests'") {
            for (i, item) in list.enumerated() {
                if let t = ruleTest(item, index: i) { definition.tests.append(t) }
            }
        }
        if !pairs.contains(where: { $0.key == "rules" }) { warning(root, "no 'rules': every webhook to this source will be ignored") }
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

    // MARK: verify

    static let verifyKeys = ["preset", "secrets", "user", "url", "tolerance", "allow_networks", "unverified", "hmac", "token"]
    static let hmacKeys = ["algorithm", "header", "prefix", "format", "separator", "signature_key", "timestamp_key", "encoding", "signed", "timestamp_header", "secret_format"]

    mutating func verification(_ node: Node, into definition: inout SourceDefinition) {
        guard let pairs = mapping(node, allowed: YAMLReader.verifyKeys, what: "'verify'") else { return }
        var scheme: VerificationScheme?
        var secrets: [Secret] = []
        var secretRefs: [String] = []
        var secretsGiven = false
        var user: String?
        var url: String?
        var userRefs: [String] = []
        var tolerance: TimeInterval = 300
        var networks: [CIDR] = []
        var unverified = false
        var schemeNodes = 0
        for (key, keyNode, value) in pairs {
            switch key {
            case "preset":
                schemeNodes += 1
                guard let s = nonEmptyString(value, what: "'preset'") else { continue }
                guard let preset = VerificationPreset.named(s) else {
                    error(value, "unknown preset '\(s)'\(suggestion(s, VerificationPreset.names)) (presets: \(VerificationPreset.names.joined(separator: ", ")))")
                    continue
                }
                scheme = preset.scheme
                definition.preset = s
                if definition.dedupe.header == nil { definition.dedupe.header = preset.deliveryIdHeader }
            case "unverified":
                schemeNodes += 1
                unverified = bool(value, what: "'unverified'") ?? false
                if !unverified { error(value, "'unverified' can only be true; leave it out to verify") }
                scheme = .unverified
            case "hmac":
                schemeNodes += 1
                scheme = hmacScheme(value).map(VerificationScheme.hmac)
            case "token":
                schemeNodes += 1
                guard let tp = mapping(value, allowed: ["header", "prefix"], what: "'token'") else { continue }
                var header = "X-Webhook-Token"
                var prefix = ""
                for (k, _, v) in tp {
                    if k == "header", let s = nonEmptyString(v, what: "'header'") { header = s }
                    if k == "prefix", let s = string(v, what: "'prefix'") { prefix = s }
                }
                scheme = .token(header: header, prefix: prefix)
            case "secrets":
                secretsGiven = true
                let items: [Node] = value.sequence.map { Array($0) } ?? [value]
                for item in items {
                    if let m = item.mapping {
                        _ = m
                        guard let fp = mapping(item, allowed: ["file"], what: "a secret"), let f = fp.first,
                            let path = nonEmptyString(f.value, what: "'file'")
                        else { continue }
                        let expanded = expand(path).value
                        if let data = FileManager.default.contents(atPath: expanded) {
                            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                            if !text.isEmpty { secrets.append(Secret(text)) }
                        } else {
                            warning(f.value, "secret file '\(expanded)' cannot be read; it is ignored")
                        }
                    } else if let s = string(item, what: "a secret") {
                        let (value, refs) = expand(s)
                        secretRefs += refs
                        if refs.isEmpty, !s.isEmpty {
                            warning(item, "secret written inline in the rule file; read it from the environment with \"${NAME}\" or from a file with {file: /path}")
                        }
                        if !value.isEmpty { secrets.append(Secret(value)) }
                    }
                }
            case "url":
                if let s = nonEmptyString(value, what: "'url'") { url = expand(s).value }
            case "user":
                if let s = string(value, what: "'user'") {
                    let (v, refs) = expand(s)
                    user = v
                    userRefs = refs
                }
            case "tolerance":
                if let n = number(value, what: "'tolerance'") {
                    if n <= 0 { error(value, "'tolerance' must be a positive number of seconds") } else { tolerance = n }
                }
            case "allow_networks":
                if let list = sequence(value, what: "'allow_networks'") {
                    for item in list {
                        guard let s = string(item, what: "a network") else { continue }
                        if let c = CIDR(s) { networks.append(c) } else { error(item, "'\(s)' is not an IPv4 or IPv6 network such as 192.30.252.0/22") }
                    }
                }
            default:
                _ = keyNode
            }
        }
        if schemeNodes > 1 { error(node, "'verify' takes one of 'preset', 'hmac', 'token' or 'unverified'") }
        guard let scheme else {
            if schemeNodes == 0 { error(node, "'verify' needs 'preset', 'hmac', 'token' or 'unverified: true'") }
            return
        }
        if case .urlAndForm(let header, _) = scheme {
            guard let url, url.hasPrefix("http") else {
                error(node, "the splunk-oncall preset needs 'url': the webhook URL exactly as configured in Splunk On-Call (it is signed)")
                return
            }
            definition.verifier = SignatureVerifier(scheme: .urlAndForm(header: header, url: url), secrets: secrets, tolerance: tolerance, allowedNetworks: networks)
            if secrets.isEmpty, secretsGiven { definition.disabledReason = "no secret configured" + (secretRefs.isEmpty ? "" : ": set \(secretRefs.joined(separator: " or "))") }
            if !secretsGiven { error(node, "'verify' needs 'secrets'") }
            return
        }
        if case .basic = scheme {
            guard let user, !user.isEmpty else {
                // Keep the scheme so that rule-file tests still verify; the source itself is disabled.
                definition.verifier = SignatureVerifier(scheme: .basic(user: ""), secrets: secrets, tolerance: tolerance, allowedNetworks: networks)
                definition.disabledReason = "no basic-auth user configured" + (userRefs.isEmpty ? "" : ": set \(userRefs.joined(separator: " or "))")
                return
            }
            definition.verifier = SignatureVerifier(scheme: .basic(user: user), secrets: secrets, tolerance: tolerance, allowedNetworks: networks)
        } else {
            definition.verifier = SignatureVerifier(scheme: scheme, secrets: secrets, tolerance: tolerance, allowedNetworks: networks)
        }
        if scheme == .unverified {
            if secretsGiven { warning(node, "'secrets' are ignored by an unverified source") }
            return
        }
        if !secretsGiven {
            error(node, "'verify' needs 'secrets' (for example [\"${\(definition.name.uppercased().replacingOccurrences(of: "-", with: "_"))_WEBHOOK_SECRET}\"]); an unverified source must say 'unverified: true'")
        } else if secrets.isEmpty {
            definition.disabledReason = "no secret configured" + (secretRefs.isEmpty ? "" : ": set \(secretRefs.joined(separator: " or "))")
        }
    }

    mutating func hmacScheme(_ node: Node) -> HMACScheme? {
        guard let pairs = mapping(node, allowed: YAMLReader.hmacKeys, what: "'hmac'") else { return nil }
        var algorithm = HMACAlgorithm.sha256
        var header: String?
        var prefix = ""
        var format = "single"
        var separator = ","
        var signatureKey = "signature"
        var timestampKey: String?
        var encoding = HMACScheme.Encoding.hex
        var signed: [HMACScheme.Part] = [.body]
        var timestampHeader: String?
        var secretFormat = SecretFormat.utf8
        var ok = true
        for (key, _, value) in pairs {
            guard let s = string(value, what: "'\(key)'") else { ok = false; continue }
            switch key {
            case "algorithm":
                if let a = HMACAlgorithm(rawValue: s.lowercased().replacingOccurrences(of: "-", with: "")) { algorithm = a } else {
                    error(value, "unknown algorithm '\(s)' (sha1, sha256 or sha512)")
                    ok = false
                }
            case "header": header = s
            case "prefix": prefix = s
            case "format":
                if ["single", "list", "parameters"].contains(s) { format = s } else {
                    error(value, "unknown format '\(s)' (single, list or parameters)")
                    ok = false
                }
            case "separator": separator = s
            case "signature_key": signatureKey = s
            case "timestamp_key": timestampKey = s
            case "encoding":
                if let e = HMACScheme.Encoding(rawValue: s) { encoding = e } else {
                    error(value, "unknown encoding '\(s)' (hex or base64)")
                    ok = false
                }
            case "signed":
                if let parts = HMACScheme.parseSigned(s) { signed = parts } else {
                    error(value, "'signed' must be a pattern of {body}, {timestamp}, {header:Name} and literal text that includes {body}, like \"{timestamp}.{body}\"")
                    ok = false
                }
            case "timestamp_header": timestampHeader = s
            case "secret_format":
                if let f = SecretFormat(rawValue: s) { secretFormat = f } else {
                    error(value, "unknown secret_format '\(s)' (utf8 or whsec)")
                    ok = false
                }
            default: break
            }
        }
        guard let header else {
            error(node, "'hmac' needs 'header' (the header that carries the signature)")
            return nil
        }
        let f: HMACScheme.Format
        switch format {
        case "list": f = .list(separator: separator, prefix: prefix)
        case "parameters": f = .parameters(separator: separator, signatureKey: signatureKey, timestampKey: timestampKey)
        default: f = .single(prefix: prefix)
        }
        if signed.contains(.timestamp), timestampHeader == nil, timestampKey == nil {
            error(node, "'signed' uses {timestamp} but neither 'timestamp_header' nor 'timestamp_key' says where it comes from")
            ok = false
        }
        return ok ? HMACScheme(algorithm: algorithm, header: header, format: f, encoding: encoding, signed: signed, timestampHeader: timestampHeader, secretFormat: secretFormat) : nil
    }

    mutating func dedupe(_ node: Node, into definition: inout SourceDefinition) {
        guard let pairs = mapping(node, allowed: ["header", "key"], what: "'dedupe'") else { return }
        for (key, _, value) in pairs {
            if key == "header", let s = nonEmptyString(value, what: "'header'") { definition.dedupe.header = s }
            if key == "key", let t = template(value, what: "dedupe 'key'") { definition.dedupe.key = t }
        }
    }

    // MARK: rules

    static let ruleKeys = ["name", "when", "for_each", "dedupe_key", "team", "stream_token", "event", "events", "metric", "metrics"]
    static let eventKeys = ["type", "time", "description", "url", "team"]
    static let metricKeys = ["name", "aggregate", "value", "time", "dimensions", "stream_token"]

    mutating func rule(_ node: Node, index: Int) -> Rule? {
        guard let pairs = mapping(node, allowed: YAMLReader.ruleKeys, what: "a rule") else { return nil }
        var rule = Rule(name: "rule-\(index + 1)", condition: .always, forEach: nil, dedupeKey: nil, team: nil, streamToken: nil, events: [], metrics: [], line: node.mark?.line ?? 0)
        var hasName = false
        for (key, _, value) in pairs {
            switch key {
            case "name":
                if let s = nonEmptyString(value, what: "rule 'name'") { rule.name = s; hasName = true }
            case "when":
                if let c = condition(value) { rule.condition = c }
            case "for_each":
                if let s = string(value, what: "'for_each'"), let p = path(value, s, what: "'for_each'") { rule.forEach = p }
            case "dedupe_key":
                if let t = template(value, what: "'dedupe_key'") { rule.dedupeKey = t }
            case "team":
                if let s = string(value, what: "'team'") { rule.team = teamTemplate(value, s) }
            case "stream_token":
                if let s = string(value, what: "'stream_token'") { rule.streamToken = nonEmpty(expand(s).value) }
            case "event", "events":
                let items: [Node] = key == "events" ? (sequence(value, what: "'events'") ?? []) : [value]
                for item in items { if let e = eventTemplate(item) { rule.events.append(e) } }
            case "metric", "metrics":
                let items: [Node] = key == "metrics" ? (sequence(value, what: "'metrics'") ?? []) : [value]
                for item in items { if let m = metricTemplate(item) { rule.metrics.append(m) } }
            default: break
            }
        }
        if !hasName && !pairs.contains(where: { $0.key == "name" }) { error(node, "a rule needs a 'name'") }
        if rule.events.isEmpty && rule.metrics.isEmpty && !pairs.contains(where: { ["event", "events", "metric", "metrics"].contains($0.key) }) {
            error(node, "rule '\(rule.name)' produces nothing: add an 'event' or a 'metric'")
        }
        if rule.forEach == nil {
            for p in rule.condition.paths + rule.events.flatMap(eventPaths) + rule.metrics.flatMap(metricPaths) + (rule.dedupeKey?.paths ?? []) where p.root == .item {
                error(node, "rule '\(rule.name)' uses '\(p)' but has no 'for_each'")
                break
            }
        }
        return rule
    }

    func eventPaths(_ e: EventTemplate) -> [PayloadPath] {
        [e.type, e.time, e.description, e.url, e.team].compactMap { $0 }.flatMap(\.paths)
    }

    func metricPaths(_ m: MetricTemplate) -> [PayloadPath] {
        ([m.name, m.value, m.time].compactMap { $0 } + m.dimensions.map(\.value)).flatMap(\.paths)
    }

    mutating func eventTemplate(_ node: Node) -> EventTemplate? {
        guard let pairs = mapping(node, allowed: YAMLReader.eventKeys, what: "an event") else { return nil }
        var type: Template?
        var e = EventTemplate(type: .literal(""), time: nil, description: nil, url: nil, team: nil)
        for (key, _, value) in pairs {
            switch key {
            case "type": type = template(value, what: "event 'type'")
            case "time": e.time = timeTemplate(value, what: "event 'time'")
            case "description": e.description = template(value, what: "event 'description'")
            case "url": e.url = template(value, what: "event 'url'")
            case "team": if let s = string(value, what: "'team'") { e.team = teamTemplate(value, s) }
            default: break
            }
        }
        guard let type else {
            if !pairs.contains(where: { $0.key == "type" }) { error(node, "an event needs a 'type' (deploy, incident, rollback, ...)") }
            return nil
        }
        e.type = type
        return e
    }

    mutating func metricTemplate(_ node: Node) -> MetricTemplate? {
        guard let pairs = mapping(node, allowed: YAMLReader.metricKeys, what: "a metric") else { return nil }
        var name: Template?
        var aggregation: Aggregation?
        var value: Template?
        var m = MetricTemplate(name: .literal(""), aggregation: .sum, value: .literal("1"), time: nil, dimensions: [], streamToken: nil)
        for (key, keyNode, v) in pairs {
            switch key {
            case "name": name = template(v, what: "metric 'name'")
            case "aggregate":
                if let s = string(v, what: "'aggregate'") {
                    aggregation = Aggregation.allCases.first { $0.rawValue.lowercased() == s.lowercased() }
                    if aggregation == nil {
                        error(v, "unknown aggregate '\(s)'\(suggestion(s, Aggregation.allCases.map(\.rawValue))) (Sum, Average, Maximum or Minimum)")
                    }
                }
            case "value":
                if let s = string(v, what: "metric 'value'") {
                    if s.contains("{{") {
                        value = template(v, what: "metric 'value'")
                    } else if Double(s) != nil {
                        value = .literal(s)
                    } else {
                        value = pathTemplate(v, s, what: "metric 'value'")
                    }
                }
            case "time": m.time = timeTemplate(v, what: "metric 'time'")
            case "stream_token": if let s = string(v, what: "'stream_token'") { m.streamToken = nonEmpty(expand(s).value) }
            case "dimensions":
                guard let dm = v.mapping else {
                    error(v, "'dimensions' must be a mapping of names to templates")
                    continue
                }
                if dm.count > CloudthreadLimits.maxDimensions {
                    error(keyNode, "a metric has at most \(CloudthreadLimits.maxDimensions) dimensions in Cloudthread; this one has \(dm.count)")
                }
                for (dk, dv) in dm {
                    guard let dkey = dk.scalar?.string, !dkey.isEmpty else {
                        error(dk, "dimension names must be non-empty strings")
                        continue
                    }
                    if let t = template(dv, what: "dimension '\(dkey)'") { m.dimensions.append((dkey, t)) }
                }
            default: break
            }
        }
        if name == nil, !pairs.contains(where: { $0.key == "name" }) { error(node, "a metric needs a 'name'") }
        if aggregation == nil, !pairs.contains(where: { $0.key == "aggregate" }) { error(node, "a metric needs 'aggregate' (Sum, Average, Maximum or Minimum)") }
        if value == nil, !pairs.contains(where: { $0.key == "value" }) { error(node, "a metric needs a 'value' (a number, a path or a template)") }
        guard let name, let aggregation, let value else { return nil }
        m.name = name
        m.aggregation = aggregation
        m.value = value
        return m
    }

    // MARK: conditions

    static let matcherKeys = ["equals", "one_of", "regex", "exists", "gt", "gte", "lt", "lte", "contains"]

    mutating func condition(_ node: Node) -> Condition? {
        guard let mapping = node.mapping else {
            error(node, "'when' must be a mapping of paths to expected values")
            return nil
        }
        var parts: [Condition] = []
        for (k, v) in mapping {
            guard let key = k.scalar?.string else {
                error(k, "condition keys must be paths")
                continue
            }
            switch key {
            case "all", "any":
                guard let list = sequence(v, what: "'\(key)'") else { continue }
                let cs = list.compactMap { condition($0) }
                parts.append(key == "all" ? .all(cs) : .any(cs))
            case "not":
                if let c = condition(v) { parts.append(.not(c)) }
            default:
                guard let p = pathForCondition(k, key) else { continue }
                if let m = matcher(v) { parts.append(m.count == 1 ? .test(p, m[0]) : .all(m.map { .test(p, $0) })) }
            }
        }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    mutating func pathForCondition(_ node: Node, _ key: String) -> PayloadPath? {
        switch PayloadPath.parse(key) {
        case .success(let p): return p
        case .failure(let e):
            let first = key.split(separator: ".").first.map(String.init) ?? key
            if PayloadPath.Root(rawValue: first) == nil {
                error(node, "unknown condition '\(key)'\(suggestion(first, PayloadPath.Root.allCases.map(\.rawValue) + ["all", "any", "not"])): a condition key is a path (payload., header., query., item., path) or all/any/not")
            } else {
                error(node, e.description)
            }
            return nil
        }
    }

    mutating func matcher(_ node: Node) -> [Matcher]? {
        if let scalar = node.scalar { return [.equals(scalar.string)] }
        if let seq = node.sequence {
            var values: [String] = []
            for item in seq { if let s = string(item, what: "a value in a list of choices") { values.append(s) } }
            return [.oneOf(values)]
        }
        guard let pairs = mapping(node, allowed: YAMLReader.matcherKeys, what: "a condition") else { return nil }
        var out: [Matcher] = []
        for (key, _, value) in pairs {
            switch key {
            case "equals": if let s = string(value, what: "'equals'") { out.append(.equals(s)) }
            case "one_of":
                if let list = sequence(value, what: "'one_of'") { out.append(.oneOf(list.compactMap { string($0, what: "a choice") })) }
            case "regex":
                if let s = string(value, what: "'regex'") {
                    do { out.append(.regex(try BoundedRegex(s))) } catch { self.error(value, "\(error)") }
                }
            case "exists": if let b = bool(value, what: "'exists'") { out.append(.exists(b)) }
            case "contains": if let s = string(value, what: "'contains'") { out.append(.contains(s)) }
            default:
                if let n = number(value, what: "'\(key)'"), let op = Matcher.Comparison(rawValue: key) { out.append(.compare(op, n)) }
            }
        }
        if out.isEmpty, pairs.isEmpty { error(node, "an empty condition; use one of \(YAMLReader.matcherKeys.joined(separator: ", "))") }
        return out
    }

    // MARK: tests

    static let testKeys = ["name", "headers", "query", "path", "body", "body_file", "sign", "expect"]
    static let expectKeys = ["outcome", "status", "events", "metrics", "exact"]

    mutating func ruleTest(_ node: Node, index: Int) -> RuleTest? {
        guard let pairs = mapping(node, allowed: YAMLReader.testKeys, what: "a test") else { return nil }
        var t = RuleTest(name: "test \(index + 1)", line: node.mark?.line ?? 0, headers: [], query: [], subpath: "", body: [], sign: true, expect: .init(outcome: nil, status: nil, events: nil, metrics: nil, exact: false))
        var hasBody = false
        for (key, _, value) in pairs {
            switch key {
            case "name": if let s = nonEmptyString(value, what: "test 'name'") { t.name = s }
            case "headers", "query":
                guard let m = value.mapping else {
                    error(value, "'\(key)' must be a mapping of names to values")
                    continue
                }
                for (k, v) in m {
                    guard let name = k.scalar?.string, let s = string(v, what: "a \(key == "headers" ? "header" : "query") value") else { continue }
                    if key == "headers" { t.headers.append((name, s)) } else { t.query.append((name, s)) }
                }
            case "path": if let s = string(value, what: "'path'") { t.subpath = s }
            case "body":
                hasBody = true
                if let s = value.scalar?.string {
                    t.body = Array(s.utf8)
                } else {
                    t.body = Array(YAMLReader.json(value).utf8)
                }
            case "body_file":
                hasBody = true
                guard let s = nonEmptyString(value, what: "'body_file'") else { continue }
                let path = s.hasPrefix("/") ? s : "\(directory)/\(s)"
                if let data = FileManager.default.contents(atPath: path) {
                    t.body = [UInt8](data)
                } else {
                    error(value, "body_file '\(s)' cannot be read (looked for \(path))")
                }
            case "sign": if let b = bool(value, what: "'sign'") { t.sign = b }
            case "expect":
                guard let ep = mapping(value, allowed: YAMLReader.expectKeys, what: "'expect'") else { continue }
                for (ek, _, ev) in ep {
                    switch ek {
                    case "outcome":
                        if let s = string(ev, what: "'outcome'") {
                            if ["accepted", "ignored", "rejected", "refused", "duplicate"].contains(s) { t.expect.outcome = s } else {
                                error(ev, "unknown outcome '\(s)' (accepted, ignored, rejected or refused)")
                            }
                        }
                    case "status": if let n = number(ev, what: "'status'") { t.expect.status = Int(n) }
                    case "exact": if let b = bool(ev, what: "'exact'") { t.expect.exact = b }
                    case "events", "metrics":
                        guard let list = sequence(ev, what: "'\(ek)'") else { continue }
                        var items: [[String: JSONValue]] = []
                        let allowed = ek == "events" ? ["type", "description", "url", "team", "timestamp"] : ["name", "aggregate", "value", "dimensions", "hour", "stream_token"]
                        for item in list {
                            guard let ip = mapping(item, allowed: allowed, what: "an expected \(ek == "events" ? "event" : "metric")") else { continue }
                            var o: [String: JSONValue] = [:]
                            for (ik, _, iv) in ip { o[ik] = YAMLReader.jsonValue(iv) }
                            items.append(o)
                        }
                        if ek == "events" { t.expect.events = items } else { t.expect.metrics = items }
                    default: break
                    }
                }
            default: break
            }
        }
        if !hasBody { error(node, "test '\(t.name)' needs a 'body' or a 'body_file'") }
        return t
    }

    /// A YAML node as a JSON value (scalars typed by their YAML resolution).
    static func jsonValue(_ node: Node) -> JSONValue {
        if let m = node.mapping {
            var o: [String: JSONValue] = [:]
            for (k, v) in m { o[k.scalar?.string ?? ""] = jsonValue(v) }
            return .object(o)
        }
        if let s = node.sequence { return .array(s.map(jsonValue)) }
        guard let scalar = node.scalar else { return .null }
        if scalar.style == .plain {
            if node.null != nil { return .null }
            if let b = node.bool { return .bool(b) }
            if let i = node.int { return .number(Double(i)) }
            if let f = node.float { return .number(f) }
        }
        return .string(scalar.string)
    }

    static func json(_ node: Node) -> String { jsonValue(node).json }
}
