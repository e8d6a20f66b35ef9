import BridgeCore

/// Parses arbitrary bytes; whatever parses must print as JSON text that parses back to an equal value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONValue.parse(bytes) else { return 0 }
    let text = value.json
    let again: JSONValue
    do {
        again = try JSONValue.parse(Array(text.utf8))
    } catch {
        fatalError("the JSON text of a parsed value does not parse: \(error)\n\(text.prefix(500))")
    }
    guard again == value else {
        fatalError("round trip changed the value:\n\(text.prefix(500))\n\(again.json.prefix(500))")
    }
    return 0
}
