import Foundation
import Testing

@testable import BridgeCore

@Suite("Strict JSON parser")
struct JSONParserTests {
    func parse(_ text: String) -> Result<JSONValue, JSONParseError> {
        do throws(JSONParseError) {
            return .success(try JSONValue.parse(Array(text.utf8)))
        } catch {
            return .failure(error)
        }
    }

    func reason(_ text: String) -> JSONParseError.Reason? {
        if case .failure(let e) = parse(text) { return e.reason }
        return nil
    }

    @Test func validDocumentsParseToTheSameValuesAsFoundation() throws {
        let text = #"""
            {"a":[1,-0.5,1e3,2E-2,true,false,null],"s":"x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude80","o":{},"e":[],
             "big":12345678901234567890,"neg":-0,"tiny":1e-400}
            """#
        let value = try parse(text).get()
        #expect(value["s"] == .string("x\"y\\z/\u{8}\u{c}\n\r\té🚀"))
        #expect(value["big"] == .number(Double("12345678901234567890")!))
        #expect(value["tiny"] == .number(0))
        guard case .array(let a)? = value["a"] else {
            Issue.record("no array")
            return
        }
        #expect(a == [.number(1), .number(-0.5), .number(1000), .number(0.02), .bool(true), .bool(false), .null])
        // Written back and parsed again: the same value.
        #expect(try parse(value.json).get() == value)
        #expect(value.json.utf8.elementsEqual(value.jsonBytes))
    }

    @Test(arguments: [
        ("{\"v\":1,}", JSONParseError.Reason.trailingComma), ("[1,]", .trailingComma), ("", .empty), ("   ", .empty),
        ("{\"a\":1} x", .trailingContent), ("01", .invalidNumber), ("+1", .invalidNumber),
        (".5", .invalidNumber), ("1.", .invalidNumber), ("1e400", .numberOutOfRange),
        ("NaN", .unexpectedByte(UInt8(ascii: "N"))), ("'a'", .unexpectedByte(UInt8(ascii: "'"))),
        ("\"a\u{01}\"", .controlCharacterInString), ("\"\\x\"", .invalidEscape), ("\"\\ud800\"", .loneSurrogate),
        ("{\"k\":1,\"k\":2}", .duplicateKey("k")), ("[1", .unexpectedEnd),
        ("{\"a\" 1}", .unexpectedByte(UInt8(ascii: "1"))),
    ])
    func malformedDocumentsAreRefusedWithAReason(text: String, expected: JSONParseError.Reason) {
        #expect(reason(text) == expected, "\(text.debugDescription)")
    }

    @Test func invalidUTF8IsRefused() {
        for bytes: [UInt8] in [
            [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22],
            [0x22, 0xE2, 0x82],
        ] {
            do throws(JSONParseError) {
                _ = try JSONValue.parse(bytes)
                Issue.record("accepted \(bytes)")
            } catch {
                #expect(error.reason == .invalidUTF8 || error.reason == .unexpectedEnd)
            }
        }
    }

    @Test func errorsSayWhereWithoutEchoingMuch() {
        guard case .failure(let e) = parse("{\n  \"a\": 1,\n  \"b\": ]\n}") else {
            Issue.record("accepted")
            return
        }
        #expect(e.line == 3 && e.column == 8)
        #expect(e.description.hasPrefix("line 3, column 8"))
        guard case .failure(let long) = parse("[" + String(repeating: "x", count: 10_000) + "]") else { return }
        #expect(long.description.count < 200)
    }

    @Test func nestingIsBounded() {
        #expect(reason(String(repeating: "[", count: 128) + String(repeating: "]", count: 128)) == nil)
        #expect(reason(String(repeating: "[", count: 129) + String(repeating: "]", count: 129)) == .tooDeep(128))
        #expect(reason(String(repeating: "[", count: 100_000)) == .tooDeep(128))
    }

    @Test func aLeadingByteOrderMarkIsSkipped() throws {
        #expect(try parse("\u{FEFF}{\"a\":1}").get() == .object(["a": .number(1)]))
    }
}
