import BridgeCore
import BridgeMapping
import BridgeVerification
import Foundation

/// The payload every template renders against: strings, whole and fractional numbers, numbers out of any integer
/// range, times in each accepted form, nested objects and arrays, empty values.
private let payloadJSON = #"""
    {
      "s": "Hello, World", "empty": "", "space": "  padded  ", "unicode": "héllo 👋 e\u0301", "null": null,
      "t": true, "f": false,
      "n": 42, "neg": -7, "frac": 3.14159, "zero": 0, "big": 1e30, "tiny": 1e-30, "huge": 1.7976931348623157e308,
      "negbig": -1e30, "int64": 9223372036854775807, "numtext": "12.5", "bignumtext": "1e300",
      "time": "2024-05-01T14:05:00Z", "time2": "2024-05-01 14:05:00.123+02:00", "epoch": 1714572300,
      "epochms": 1714572300123, "epochns": 1714572300123456789, "far": 99999999999999999999, "fartext": "99999999999",
      "list": ["a", "b", "", "c"], "nums": [1, 2.5, -3, 1e30], "none": [],
      "objs": [{"k": "x", "v": 1, "labels": {"alertname": "A"}}, {"k": "y", "v": 2}, {"k": null}],
      "obj": {"a": {"b": {"c": "deep"}}, "a.b": "dotted", "0": "zero-key"},
      "csv": "x,y,,z", "url": "https://example.com/a?b=c&d=e"
    }
    """#

private let request = IncomingRequest(
    source: "fuzz", path: "/hooks/fuzz/sub/path", query: [(name: "token", value: "abc"), (name: "n", value: "1e30")],
    headers: HeaderBag([(name: "X-Event", value: "push"), (name: "X-Number", value: "-1e30")]),
    body: Array(payloadJSON.utf8), clientAddress: "192.0.2.1",
    receivedAt: Date(timeIntervalSince1970: 1_714_572_300))

private let contexts: [MappingContext] = {
    guard let payload = try? JSONValue.parse(Array(payloadJSON.utf8)) else {
        fatalError("the fixed payload of the template fuzzer is not JSON")
    }
    let context = MappingContext(request: request, payload: payload, subpath: "sub/path")
    return [context, context.with(item: payload["objs"] ?? .null), context.with(item: .number(1e30))]
}()

/// Parses arbitrary text as a template; a template that parses is rendered (as text and as a typed value)
/// against a fixed payload. Errors are fine; traps are not.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTemplate(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard case .success(let template) = Template.parse(text) else { return 0 }
    _ = template.paths
    _ = template.requiredPaths
    for context in contexts {
        _ = try? template.render(context)
        _ = (try? template.value(context))??.json
    }
    return 0
}
