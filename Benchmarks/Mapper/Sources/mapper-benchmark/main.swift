// Maps a GitHub deployment_status body through the shipped mappings/github.yaml rules, N times per round:
//   before: the whole body parsed to a `JSONValue` tree (`JSONValue.parse`, as main's mapper did), then the rules;
//   after:  the mapper as shipped (`Mapper.map`: the body indexed, only the values the rules read built).
// Usage: mapper-benchmark --mappings DIR --body FILE [--mode both|before|after] [--iterations N] [--rounds R]
// With --mode both it prints the median ns per map of each over R alternating rounds; with one mode it only runs
// that one (run.sh counts its mallocs with perf). Both must give the same records, or it exits 1.

import BridgeCore
import BridgeMapping
import BridgeVerification
import Foundation

var mappings = "mappings"
var bodyFile = "Tests/BridgeServerTests/Fixtures/payloads/deployment_status.json"
var mode = "both"
var iterations = 20_000
var rounds = 7
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--mappings": mappings = args.next() ?? mappings
    case "--body": bodyFile = args.next() ?? bodyFile
    case "--mode": mode = args.next() ?? mode
    case "--iterations": iterations = Int(args.next() ?? "") ?? iterations
    case "--rounds": rounds = Int(args.next() ?? "") ?? rounds
    default:
        FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8))
        exit(2)
    }
}

let loaded = RuleLoader(environment: ["GITHUB_WEBHOOK_SECRET": "benchmark-secret"]).load(path: mappings)
guard let source = loaded.sources.first(where: { $0.name == "github" }) else {
    FileHandle.standardError.write(Data("no github source in \(mappings)\n".utf8))
    exit(2)
}
guard let body = FileManager.default.contents(atPath: bodyFile) else {
    FileHandle.standardError.write(Data("cannot read \(bodyFile)\n".utf8))
    exit(2)
}
let request = IncomingRequest(
    source: "github",
    headers: HeaderBag([
        ("Content-Type", "application/json"), ("X-GitHub-Event", "deployment_status"),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ]),
    body: Array(body), receivedAt: Date(timeIntervalSince1970: 1_557_936_000))  // 2019-05-15 16:00 UTC
let mapper = Mapper(defaultStreamToken: Secret("benchmark-token"))

@MainActor @inline(never)
func mapBefore() -> MappingResult {
    let payload = try! JSONValue.parse(request.body)
    return mapper.map(request, payload: payload, source: source)
}

@MainActor @inline(never)
func mapAfter() -> MappingResult { try! mapper.map(request, source: source) }

let before = mapBefore()
let after = mapAfter()
guard before.records == after.records, before.contentKey == after.contentKey, before.records.count == 2 else {
    FileHandle.standardError.write(Data("the two paths disagree: \(before.records) / \(after.records)\n".utf8))
    exit(1)
}

@MainActor func nanoseconds(_ n: Int, _ f: () -> MappingResult) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    var records = 0
    for _ in 0..<n { records &+= f().records.count }
    let end = DispatchTime.now().uptimeNanoseconds
    precondition(records == 2 * n)
    return Double(end - start) / Double(max(n, 1))
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

switch mode {
case "before": _ = nanoseconds(iterations, mapBefore)
case "after": _ = nanoseconds(iterations, mapAfter)
default:
    _ = nanoseconds(iterations / 10, mapBefore)
    _ = nanoseconds(iterations / 10, mapAfter)
    var b: [Double] = []
    var a: [Double] = []
    for _ in 0..<rounds {
        b.append(nanoseconds(iterations, mapBefore))
        a.append(nanoseconds(iterations, mapAfter))
    }
    let mb = median(b)
    let ma = median(a)
    print(
        "\(bodyFile) (\(body.count) bytes): before \(Int(mb)) ns/map, after \(Int(ma)) ns/map, "
            + String(format: "%.2fx", mb / ma))
}
