import BridgeCore
import BridgeMapping
import BridgeVerification
import Foundation

/// The shipped rule files (`mappings/*.yaml`, or `$BRIDGE_FUZZ_MAPPINGS`), loaded once with every `${NAME}` set:
/// `*_USER` to a user name, `*_TOPIC_ARN` to an SNS topic ARN, `*_TENANT_ID` to an Entra ID tenant id,
/// `*_SERVICE_ACCOUNTS` to a service account email, `*_AUDIENCE` to a URL, everything else to a secret in the
/// `whsec_` form that every scheme accepts.
private let sources: [SourceDefinition] = {
    let directory =
        ProcessInfo.processInfo.environment["BRIDGE_FUZZ_MAPPINGS"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../mappings").path
    guard let files = try? RuleLoader.ruleFiles(at: directory), !files.isEmpty else {
        fatalError("no rule files in \(directory); set BRIDGE_FUZZ_MAPPINGS")
    }
    var environment: [String: String] = [:]
    for file in files {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        for reference in text.components(separatedBy: "${").dropFirst() {
            guard let end = reference.firstIndex(where: { $0 == "}" || $0 == ":" }) else { continue }
            let name = String(reference[..<end])
            environment[name] = value(for: name)
        }
    }
    let result = RuleLoader(environment: environment).load(path: directory)
    let errors = result.diagnostics.filter { $0.severity == .error }
    guard errors.isEmpty, !result.sources.isEmpty else {
        fatalError("the rule files in \(directory) do not load:\n\(errors.map(\.description).joined(separator: "\n"))")
    }
    if let disabled = result.sources.first(where: { $0.disabledReason != nil }) {
        fatalError("source \(disabled.name) is disabled: \(disabled.disabledReason ?? "")")
    }
    return result.sources
}()

/// A value that the setting `name` of a shipped rule file accepts.
private func value(for name: String) -> String {
    if name.hasSuffix("_USER") { return "user" }
    if name.hasSuffix("_TOPIC_ARN") { return "arn:aws:sns:us-east-1:123456789012:fuzz" }
    if name.hasSuffix("_TENANT_ID") { return "8f6c2b9e-1d3a-4c5e-9b7f-0a1b2c3d4e5f" }
    if name.hasSuffix("_SERVICE_ACCOUNTS") { return "push@fuzz-project.iam.gserviceaccount.com" }
    if name.hasSuffix("_AUDIENCE") { return "https://bridge.example/hooks/fuzz" }
    return "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
}

/// Per source, the distinct requests its own tests send (headers, query, subpath) apart from the body, plus a bare
/// request: the body is the fuzz input, so rules that look at an event header are reached.
private struct Shape {
    var headers: [(name: String, value: String)]
    var query: [(name: String, value: String)]
    var subpath: String
}

private let shapes: [(SourceDefinition, [Shape])] = sources.map { source in
    var seen: Set<String> = []
    var list: [Shape] = [Shape(headers: [], query: [], subpath: "")]
    for test in source.tests {
        let key = "\(test.headers.map { "\($0.name)=\($0.value)" })\(test.query.map { "\($0.name)=\($0.value)" })"
        if seen.insert(key + "|" + test.subpath).inserted {
            list.append(Shape(headers: test.headers, query: test.query, subpath: test.subpath))
        }
    }
    return (source, list)
}

private let mapper = Mapper(defaultStreamToken: Secret("fuzz-stream"))
private let now = Date(timeIntervalSince1970: 1_714_572_300)

/// Sends arbitrary payload bytes to every shipped source, with each header set its tests use.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMapper(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Array(UnsafeBufferPointer(start: data, count: size))
    for (source, list) in shapes {
        for shape in list {
            let request = IncomingRequest(
                source: source.name, path: "/hooks/\(source.name)" + (shape.subpath.isEmpty ? "" : "/\(shape.subpath)"),
                query: shape.query, headers: HeaderBag(shape.headers), body: body, receivedAt: now)
            guard let result = try? mapper.map(request, source: source, subpath: shape.subpath) else { continue }
            _ = result.explanation
            _ = result.contentKey
        }
    }
    return 0
}
