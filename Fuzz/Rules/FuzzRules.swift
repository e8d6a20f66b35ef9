import BridgeCore
import BridgeMapping
import BridgeVerification
import Foundation

private let environment = [
    "SECRET": "fuzz-secret", "WHSEC": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "USER": "user",
    "TOKEN": "stream-token",
]

private let body = Array(
    #"{"action":"completed","status":"success","n":1e30,"time":"2024-05-01T14:05:00Z","list":[{"k":"v"}]}"#.utf8)

private let now = Date(timeIntervalSince1970: 1_714_572_300)

/// The rule file's name: in the shipped mappings folder, so that the shipped files, used as seeds, find their
/// `body_file`s (`$BRIDGE_FUZZ_MAPPINGS` overrides the folder).
private let file =
    (ProcessInfo.processInfo.environment["BRIDGE_FUZZ_MAPPINGS"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../mappings").path)
    + "/fuzz.yaml"

/// Loads arbitrary text as a rule file. A file that loads is then used as the bridge and `cloudthread-bridge test`
/// use it: a fixed request is mapped through its rules, and its own tests are run.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRules(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // Rule files may name files to read (`body_file`, secrets' `file`); keep the fuzzer away from devices.
    if text.contains("dev/") || text.contains("proc/") || text.contains("sys/") { return -1 }
    let (source, diagnostics) = RuleLoader(environment: environment).load(file: file, text: text)
    for d in diagnostics { _ = d.description }
    guard let source else { return 0 }
    let mapper = Mapper(defaultStreamToken: Secret("fuzz-stream"), dryRun: true)
    let request = IncomingRequest(
        source: source.name, headers: HeaderBag([(name: "X-Event", value: "push")]), body: body, receivedAt: now)
    _ = try? mapper.map(request, source: source, subpath: "a/b")
    _ = RuleTestRunner(mapper: mapper, now: now).run(source)
    return 0
}
