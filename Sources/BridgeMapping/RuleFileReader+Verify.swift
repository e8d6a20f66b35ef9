import BridgeCore
import BridgeVerification
import Foundation
import Yams

/// The `verify` and `dedupe` sections.
extension RuleFileReader {
    static let verifyKeys = [
        "preset", "secrets", "user", "url", "tolerance", "allow_networks", "unverified", "hmac", "token", "topics",
        "confirm_subscriptions", "audience", "service_accounts", "tenant", "secret_parameter", "secret_header",
    ]
    static let hmacKeys = [
        "algorithm", "header", "prefix", "format", "separator", "signature_key", "timestamp_key", "encoding", "signed",
        "timestamp_header", "secret_format",
    ]

    mutating func verification(_ node: Node, into definition: inout SourceDefinition) {
        guard let pairs = mapping(node, allowed: RuleFileReader.verifyKeys, what: "'verify'") else { return }
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
        var topics: [String] = []
        var topicRefs: [String] = []
        var topicsGiven = false
        var confirmSubscriptions = false
        var audience: String?
        var audienceRefs: [String] = []
        var serviceAccounts: [String] = []
        var serviceAccountRefs: [String] = []
        var serviceAccountsGiven = false
        var tenant: String?
        var tenantRefs: [String] = []
        var secretParameter: String?
        var secretHeader: String?
        for (key, keyNode, value) in pairs {
            switch key {
            case "preset":
                schemeNodes += 1
                guard let s = nonEmptyString(value, what: "'preset'") else { continue }
                guard let preset = VerificationPreset.named(s) else {
                    error(
                        value,
                        "unknown preset '\(s)'\(suggestion(s, VerificationPreset.names)) (presets: "
                            + "\(VerificationPreset.names.joined(separator: ", ")))"
                    )
                    continue
                }
                scheme = preset.scheme
                definition.preset = s
                if definition.dedupe.header == nil { definition.dedupe.header = preset.deliveryIdHeader }
                if preset.dedupesBody { definition.dedupe.body = true }
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
            case "topics":
                topicsGiven = true
                let items: [Node] = value.sequence.map { Array($0) } ?? [value]
                for item in items {
                    guard let s = string(item, what: "a topic ARN") else { continue }
                    let (expanded, refs) = expand(s)
                    topicRefs += refs
                    if !expanded.isEmpty {
                        if expanded.hasPrefix("arn:aws") && expanded.split(separator: ":").count == 6 {
                            topics.append(expanded)
                        } else if refs.isEmpty {
                            error(
                                item, "'\(expanded)' is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)")
                        }
                    }
                }
            case "confirm_subscriptions":
                confirmSubscriptions = bool(value, what: "'confirm_subscriptions'") ?? false
            case "audience":
                if let s = nonEmptyString(value, what: "'audience'") {
                    let (expanded, refs) = expand(s)
                    audience = expanded
                    audienceRefs = refs
                }
            case "tenant":
                if let s = nonEmptyString(value, what: "'tenant'") {
                    let (expanded, refs) = expand(s)
                    tenant = expanded
                    tenantRefs = refs
                }
            case "secret_parameter":
                if let s = nonEmptyString(value, what: "'secret_parameter'") { secretParameter = s }
            case "secret_header":
                if let s = nonEmptyString(value, what: "'secret_header'") { secretHeader = s }
            case "service_accounts":
                serviceAccountsGiven = true
                let items: [Node] = value.sequence.map { Array($0) } ?? [value]
                for item in items {
                    guard let s = string(item, what: "a service account") else { continue }
                    let (expanded, refs) = expand(s)
                    serviceAccountRefs += refs
                    for account in expanded.split(separator: ",").map({ $0.trimmed }) where !account.isEmpty {
                        if account.contains("@") {
                            serviceAccounts.append(account)
                        } else {
                            error(
                                item,
                                "'\(account)' is not a service account email (name@project.iam.gserviceaccount.com)")
                        }
                    }
                }
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
                            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(
                                in: .whitespacesAndNewlines)
                            if !text.isEmpty { secrets.append(Secret(text)) }
                        } else {
                            warning(f.value, "secret file '\(expanded)' cannot be read; it is ignored")
                        }
                    } else if let s = string(item, what: "a secret") {
                        let (value, refs) = expand(s)
                        secretRefs += refs
                        if refs.isEmpty, !s.isEmpty {
                            warning(
                                item,
                                "secret written inline in the rule file; read it from the environment with "
                                    + "\"${NAME}\" or from a file with {file: /path}"
                            )
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
                    if !(n > 0 && n <= 604_800) {
                        error(value, "'tolerance' must be a positive number of seconds, at most 604800 (7 days)")
                    } else {
                        tolerance = n
                    }
                }
            case "allow_networks":
                if let list = sequence(value, what: "'allow_networks'") {
                    for item in list {
                        guard let s = string(item, what: "a network") else { continue }
                        if let c = CIDR(s) {
                            networks.append(c)
                        } else {
                            error(item, "'\(s)' is not an IPv4 or IPv6 network such as 192.30.252.0/22")
                        }
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
        if case .awsSNS = scheme {
            if secretsGiven { warning(node, "'secrets' are not used by aws-sns: AWS signs with its certificate") }
            definition.verifier = SignatureVerifier(
                scheme: .awsSNS(topics: topics, confirmSubscriptions: confirmSubscriptions), secrets: [],
                tolerance: tolerance, allowedNetworks: networks)
            if !topicsGiven {
                error(node, "the aws-sns preset needs 'topics': the topic ARNs this source accepts")
            } else if topics.isEmpty {
                definition.disabledReason =
                    "no SNS topic configured"
                    + (topicRefs.isEmpty ? "" : ": set \(topicRefs.joined(separator: " or "))")
            }
            return
        }
        if case .gcpPubSub = scheme {
            if secretsGiven {
                warning(node, "'secrets' are not used by gcp-pubsub: Google signs the token with its keys")
            }
            definition.verifier = SignatureVerifier(
                scheme: .gcpPubSub(audience: audience ?? "", serviceAccounts: serviceAccounts), secrets: [],
                tolerance: tolerance, allowedNetworks: networks)
            if audience == nil {
                error(node, "the gcp-pubsub preset needs 'audience': the audience set on the push subscription")
            }
            if !serviceAccountsGiven {
                error(
                    node,
                    "the gcp-pubsub preset needs 'service_accounts': the service accounts whose tokens are accepted")
            }
            if let audience, audience.isEmpty {
                definition.disabledReason =
                    "no Pub/Sub audience configured"
                    + (audienceRefs.isEmpty ? "" : ": set \(audienceRefs.joined(separator: " or "))")
            } else if serviceAccountsGiven, serviceAccounts.isEmpty {
                definition.disabledReason =
                    "no Pub/Sub service account configured"
                    + (serviceAccountRefs.isEmpty ? "" : ": set \(serviceAccountRefs.joined(separator: " or "))")
            }
            return
        }
        if case .azureEventGrid = scheme {
            let auth = EventGridAuth(
                tenant: tenant ?? "", audience: audience ?? "", parameter: secretParameter ?? "code",
                header: secretHeader ?? "X-Webhook-Secret")
            definition.verifier = SignatureVerifier(
                scheme: .azureEventGrid(auth), secrets: secrets, tolerance: tolerance, allowedNetworks: networks)
            if serviceAccountsGiven { error(node, "'service_accounts' belongs to the gcp-pubsub preset") }
            if auth.usesEntraID {
                if auth.keysURL == nil {
                    error(node, "'tenant' must be a Microsoft Entra ID tenant id (a GUID) or domain")
                } else if auth.audience.isEmpty {
                    definition.disabledReason =
                        "no Entra ID audience configured"
                        + (audienceRefs.isEmpty ? "" : ": set \(audienceRefs.joined(separator: " or "))")
                }
            } else if secrets.isEmpty {
                let refs = tenantRefs + secretRefs
                definition.disabledReason =
                    "neither an Entra ID tenant nor a shared secret is configured"
                    + (refs.isEmpty ? "" : ": set \(refs.joined(separator: " or "))")
            }
            return
        }
        if tenant != nil || secretParameter != nil || secretHeader != nil {
            error(node, "'tenant', 'secret_parameter' and 'secret_header' belong to the azure-eventgrid preset")
        }
        if audience != nil || serviceAccountsGiven {
            error(node, "'audience' and 'service_accounts' belong to the gcp-pubsub preset")
        }
        if topicsGiven || confirmSubscriptions {
            error(node, "'topics' and 'confirm_subscriptions' belong to the aws-sns preset")
        }
        if case .urlAndForm(let header, _) = scheme {
            guard let url, url.hasPrefix("http") else {
                error(
                    node,
                    "the splunk-oncall preset needs 'url': the webhook URL exactly as configured in Splunk On-Call "
                        + "(it is signed)"
                )
                return
            }
            definition.verifier = SignatureVerifier(
                scheme: .urlAndForm(header: header, url: url), secrets: secrets, tolerance: tolerance,
                allowedNetworks: networks)
            if secrets.isEmpty, secretsGiven {
                definition.disabledReason =
                    "no secret configured" + (secretRefs.isEmpty ? "" : ": set \(secretRefs.joined(separator: " or "))")
            }
            if !secretsGiven { error(node, "'verify' needs 'secrets'") }
            return
        }
        if case .basic = scheme {
            guard let user, !user.isEmpty else {
                // Keep the scheme so that rule-file tests still verify; the source itself is disabled.
                definition.verifier = SignatureVerifier(
                    scheme: .basic(user: ""), secrets: secrets, tolerance: tolerance, allowedNetworks: networks)
                definition.disabledReason =
                    "no basic-auth user configured"
                    + (userRefs.isEmpty ? "" : ": set \(userRefs.joined(separator: " or "))")
                return
            }
            definition.verifier = SignatureVerifier(
                scheme: .basic(user: user), secrets: secrets, tolerance: tolerance, allowedNetworks: networks)
        } else {
            definition.verifier = SignatureVerifier(
                scheme: scheme, secrets: secrets, tolerance: tolerance, allowedNetworks: networks)
        }
        if scheme == .unverified {
            if secretsGiven { warning(node, "'secrets' are ignored by an unverified source") }
            return
        }
        if !secretsGiven {
            error(
                node,
                "'verify' needs 'secrets' (for example "
                    + "[\"${\(definition.name.uppercased().replacingOccurrences(of: "-", with: "_"))_WEBHOOK_SECRET}\"]); an unverified source must say 'unverified: true'"
            )
        } else if secrets.isEmpty {
            definition.disabledReason =
                "no secret configured" + (secretRefs.isEmpty ? "" : ": set \(secretRefs.joined(separator: " or "))")
        }
    }

    mutating func hmacScheme(_ node: Node) -> HMACScheme? {
        guard let pairs = mapping(node, allowed: RuleFileReader.hmacKeys, what: "'hmac'") else { return nil }
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
            guard let s = string(value, what: "'\(key)'") else {
                ok = false
                continue
            }
            switch key {
            case "algorithm":
                if let a = HMACAlgorithm(rawValue: s.lowercased().replacingOccurrences(of: "-", with: "")) {
                    algorithm = a
                } else {
                    error(value, "unknown algorithm '\(s)' (sha1, sha256 or sha512)")
                    ok = false
                }
            case "header": header = s
            case "prefix": prefix = s
            case "format":
                if ["single", "list", "parameters"].contains(s) {
                    format = s
                } else {
                    error(value, "unknown format '\(s)' (single, list or parameters)")
                    ok = false
                }
            case "separator": separator = s
            case "signature_key": signatureKey = s
            case "timestamp_key": timestampKey = s
            case "encoding":
                if let e = HMACScheme.Encoding(rawValue: s) {
                    encoding = e
                } else {
                    error(value, "unknown encoding '\(s)' (hex or base64)")
                    ok = false
                }
            case "signed":
                if let parts = HMACScheme.parseSigned(s) {
                    signed = parts
                } else {
                    error(
                        value,
                        "'signed' must be a pattern of {body}, {timestamp}, {header:Name} and literal text that "
                            + "includes {body}, like \"{timestamp}.{body}\""
                    )
                    ok = false
                }
            case "timestamp_header": timestampHeader = s
            case "secret_format":
                if let f = SecretFormat(rawValue: s) {
                    secretFormat = f
                } else {
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
            error(
                node,
                "'signed' uses {timestamp} but neither 'timestamp_header' nor 'timestamp_key' says where it comes from")
            ok = false
        }
        return ok
            ? HMACScheme(
                algorithm: algorithm, header: header, format: f, encoding: encoding, signed: signed,
                timestampHeader: timestampHeader, secretFormat: secretFormat) : nil
    }

    /// `dedupe: body`, or a mapping of `header`, `key` and `body` (true or false).
    mutating func dedupe(_ node: Node, into definition: inout SourceDefinition) {
        if let scalar = node.scalar {
            if scalar.string == "body" {
                definition.dedupe.body = true
            } else {
                error(node, "'dedupe' is 'body' or a mapping of 'header', 'key' and 'body'")
            }
            return
        }
        guard let pairs = mapping(node, allowed: ["header", "key", "body"], what: "'dedupe'") else { return }
        for (key, _, value) in pairs {
            if key == "header", let s = nonEmptyString(value, what: "'header'") { definition.dedupe.header = s }
            if key == "key", let t = template(value, what: "dedupe 'key'") { definition.dedupe.key = t }
            if key == "body", let b = bool(value, what: "dedupe 'body'") { definition.dedupe.body = b }
        }
    }
}
