import BridgeCore

/// Parses arbitrary bytes in place (so AddressSanitizer sees any read past the input). Whatever parses must give
/// the same value from the `[UInt8]` entry point, and its JSON text (`json`, the same bytes as `jsonBytes`, and
/// the unsorted writer) must parse back to an equal value. `JSONIndex` (the mapper's reader) must accept the same
/// bytes and build the same value, or refuse them with the same error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let indexed: Result<JSONValue, JSONParseError>
    do throws(JSONParseError) {
        let index = try JSONIndex(bytes)
        indexed = .success(index.value(index.root))
    } catch {
        indexed = .failure(error)
    }
    let value: JSONValue
    do throws(JSONParseError) {
        value = try JSONValue.parse(bytes: UnsafeRawBufferPointer(start: data, count: size))
    } catch {
        _ = error.description
        guard case .failure(let e) = indexed, e == error else { fatalError("the index disagrees: \(error)") }
        return 0
    }
    guard case .success(let v) = indexed, v == value else { fatalError("the index accepts a different value") }
    guard (try? JSONValue.parse(bytes)) == value else { fatalError("the two parse entry points disagree") }
    let text = value.json
    guard value.jsonBytes == Array(text.utf8) else { fatalError("jsonBytes differs from json:\n\(text.prefix(500))") }
    var unsorted: [UInt8] = []
    value.write(into: &unsorted, sortedKeys: false)
    for written in [Array(text.utf8), unsorted] {
        let again: JSONValue
        do {
            again = try JSONValue.parse(written)
        } catch {
            fatalError("the JSON text of a parsed value does not parse: \(error)\n\(text.prefix(500))")
        }
        guard again == value else {
            fatalError("round trip changed the value:\n\(text.prefix(500))\n\(again.json.prefix(500))")
        }
    }
    return 0
}
