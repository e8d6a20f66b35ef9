import Foundation
import Testing

@testable import BridgeCore

/// `JSONIndex` against `JSONValue.parse`: the same documents accepted (and built to the same values), the same
/// documents refused with the same error (reason, offset, line, column and message).
@Suite("JSON index")
struct JSONIndexTests {
    enum Outcome: Equatable {
        case value(JSONValue)
        case error(JSONParseError)
    }

    static func parsed(_ bytes: [UInt8], maxDepth: Int = 128) -> Outcome {
        do throws(JSONParseError) {
            return .value(try JSONValue.parse(bytes, maxDepth: maxDepth))
        } catch {
            return .error(error)
        }
    }

    static func indexed(_ bytes: [UInt8], maxDepth: Int = 128) -> Outcome {
        do throws(JSONParseError) {
            let index = try JSONIndex(bytes, maxDepth: maxDepth)
            return .value(index.value(index.root))
        } catch {
            return .error(error)
        }
    }

    func expectSame(_ bytes: [UInt8], maxDepth: Int = 128, sourceLocation: SourceLocation = #_sourceLocation) {
        let p = Self.parsed(bytes, maxDepth: maxDepth)
        let i = Self.indexed(bytes, maxDepth: maxDepth)
        #expect(
            p == i, "\(String(decoding: bytes.prefix(200), as: UTF8.self).debugDescription)",
            sourceLocation: sourceLocation)
    }

    /// Every input of JSONParserTests, and more of each kind of error.
    static let corpus: [String] = [
        #"""
        {"a":[1,-0.5,1e3,2E-2,true,false,null],"s":"x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude80","o":{},"e":[],
         "big":12345678901234567890,"neg":-0,"tiny":1e-400}
        """#,
        "{\"v\":1,}", "[1,]", "", "   ", "{\"a\":1} x", "01", "+1", ".5", "1.", "1e400", "NaN", "'a'", "\"a\u{01}\"",
        "\"\\x\"", "\"\\ud800\"", "{\"k\":1,\"k\":2}", "[1", "{\"a\" 1}", "{\n  \"a\": 1,\n  \"b\": ]\n}",
        "[" + String(repeating: "x", count: 10_000) + "]", "\u{FEFF}{\"a\":1}", "\u{FEFF}", "\u{FEFF} x", " \u{FEFF}1",
        "-", "-a", "1e", "1e+", "1.e3", "0.0e-0", "-0.0", "123456789012345678901234567890", "1E308", "-1e309",
        "4.9e-324", "2.2250738585072014e-308", "0.1", "9007199254740993", "[-]", "[1 2]", "{\"a\":1 \"b\":2}",
        "{,}", "[,]", "{\"a\"}", "{\"a\":}", "{'a':1}", "{a:1}", "{1:1}", "[1,,2]", "tru", "truex", "nul", "fals",
        "[true,false,null]", "\"\\u12\"", "\"\\u12G4\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\ud800x\"",
        "\"\\ud83d\\ude80\"", "\"abc", "\"abc\\", "\"abc\\\"", "\"\\", "{\"a\":\"\\q\"}", "[\"\t\"]", "\"é\"",
        "{\"é\":1,\"e\u{301}\":2}", "{\"\\u00e9\":1,\"é\":2}", "{\"a\":1,\"\\u0061\":2}",
        "{\"a\":{\"b\":1,\"b\":2},\"a\":3}",
        "{\"a\":1,\"a\":2,\"b\":[}",
        "{\"x\":1,\"y\":2,\"z\":3,\"w\":4,\"v\":5,\"u\":6,\"t\":7,\"s\":8,\"r\":9,\"x\":10}",
        "{\"K\":1,\"\u{212A}\":2}", "[] ]", "[]]", "{}}", "  [ ] ", "[\n1,\n2,\n]", "/* c */ 1", "// c\n1", "Infinity",
        "-Infinity", "[.5]", "[+1]", "[01]", "[1.]", "\"\u{7F}\"", "{\"a\":[{\"b\":[{\"c\":null}]}]}",
        "\"日本語\"", "{\"日本\":\"語\", \"x\": \"\\u65e5\"}",
    ]

    @Test func theIndexAgreesWithTheParserOnEveryCorpusInput() {
        for text in Self.corpus { expectSame(Array(text.utf8)) }
    }

    @Test func theIndexRefusesInvalidUTF8AsTheParserDoes() {
        for bytes: [UInt8] in [
            [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22],
            [0x22, 0xE2, 0x82], [0x22, 0x80, 0x22], [0x22, 0xE0, 0x80, 0x80, 0x22],
            [0x22, 0xF0, 0x80, 0x80, 0x80, 0x22],
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0xC3, 0x22], [0x22, 0x5C, 0x75, 0x22], [0xFF], [0xEF, 0xBB],
            [0x22, 0xE2, 0x82, 0xAC, 0x22], [0x22, 0xF0, 0x9F, 0x9A, 0x80, 0x22],
        ] {
            expectSame(bytes)
        }
    }

    @Test func nestingIsBoundedAsInTheParser() {
        for depth in [127, 128, 129, 300] {
            expectSame(Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8))
            expectSame(
                Array((String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)).utf8))
        }
        expectSame(Array("[[[1]]]".utf8), maxDepth: 2)
        expectSame(Array("[[1]]".utf8), maxDepth: 2)
    }

    @Test func aDuplicateKeyInALargeObjectIsFoundWhereTheParserFindsIt() {
        // More than eight keys: the index compares them through its hash table.
        var members = (0..<200).map { "\"key\($0)\":\($0)" }
        expectSame(Array(("{" + members.joined(separator: ",") + "}").utf8))
        members.insert("\"key150\":0", at: 170)
        members.insert("\"key20\":0", at: 180)
        expectSame(Array(("{" + members.joined(separator: ",") + "}").utf8))
    }

    @Test func theShippedExamplesAndFixturesIndexToTheParsedValues() throws {
        var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            root.deleteLastPathComponent()
        }
        var files = ["Tests/BridgeServerTests/Fixtures/payloads/deployment_status.json"]
        let examples = root.appendingPathComponent("mappings/examples")
        for dir in try FileManager.default.contentsOfDirectory(atPath: examples.path) {
            for f in try FileManager.default.contentsOfDirectory(atPath: examples.appendingPathComponent(dir).path)
            where f.hasSuffix(".json") {
                files.append("mappings/examples/\(dir)/\(f)")
            }
        }
        #expect(files.count > 10)
        for f in files {
            let bytes = Array(try Data(contentsOf: root.appendingPathComponent(f)))
            expectSame(bytes)
            // Every prefix of a short document is refused as the parser refuses it.
            if bytes.count < 2000 {
                for n in stride(from: 0, to: bytes.count, by: 7) { expectSame(Array(bytes[..<n])) }
            }
        }
    }

    @Test func lookupsFindWhatTheParsedValueHolds() throws {
        let text = #"""
            {"a":{"b":[10,"x",{"c":true}],"e\u0301":"accent","K":"kelvin"},"s":"t\"q","n":null,"list":[1,2,3]}
            """#
        let index = try JSONIndex(Array(text.utf8))
        let value = try JSONValue.parse(Array(text.utf8))
        let a = try #require(index.member("a", in: index.root))
        #expect(index.kind(a) == .object && index.count(a) == 3)
        #expect(index.value(a) == value["a"])
        let b = try #require(index.member("b", in: a))
        #expect(
            index.elements(of: b).map { index.value($0) } == [.number(10), .string("x"), .object(["c": .bool(true)])])
        #expect(index.element(1, in: b).flatMap { index.string($0) } == "x")
        #expect(index.element(3, in: b) == nil && index.element(-1, in: b) == nil)
        #expect(index.member("b", in: b) == nil)
        // Keys compare as Swift strings: "é" finds "e\u0301", and "\u{212A}" (Kelvin) finds "K".
        #expect(index.member("é", in: a).flatMap { index.string($0) } == "accent")
        #expect(index.member("\u{212A}", in: a).flatMap { index.string($0) } == "kelvin")
        #expect(index.member("s", in: index.root).flatMap { index.string($0) } == "t\"q")
        #expect(index.member("n", in: index.root).map { index.kind($0) } == .null)
        #expect(index.member("missing", in: index.root) == nil)
        #expect(index.string(index.root) == nil)
    }

    // MARK: seeded random documents

    static let pieces: [String] = [
        "a", "b", "key", "é", "e\\u0301", "\\u00e9", "\\n", "\\\"", "\\\\", "\\/", "\\ud83d\\ude80", "🚀", "日本", " ",
        "\\u0061", "K", "\u{212A}",
    ]
    static let numbers: [String] = [
        "0", "-0", "1", "-12", "3.25", "1e3", "2E-2", "-1.5e+10", "12345678901234567890", "1e-400", "0.1", "4.9e-324",
    ]

    static func randomDocument(_ rng: inout SeededRandom, depth: Int = 0) -> String {
        let ws = ["", "", " ", "\n", "\t", "\r\n  "]
        func space() -> String { ws.randomElement(using: &rng)! }
        func string() -> String {
            let n = Int.random(in: 0...3, using: &rng)
            return "\"" + (0..<n).map { _ in pieces.randomElement(using: &rng)! }.joined() + "\""
        }
        let pick = depth > 4 ? Int.random(in: 0...3, using: &rng) : Int.random(in: 0...5, using: &rng)
        switch pick {
        case 0: return ["true", "false", "null"].randomElement(using: &rng)!
        case 1: return numbers.randomElement(using: &rng)!
        case 2, 3: return string()
        case 4:
            let n = Int.random(in: 0...4, using: &rng)
            let items = (0..<n).map { _ in space() + randomDocument(&rng, depth: depth + 1) + space() }
            return "[" + items.joined(separator: ",") + "]"
        default:
            let n = Int.random(in: 0...(Bool.random(using: &rng) ? 4 : 12), using: &rng)
            let members = (0..<n).map { _ in
                space() + string() + space() + ":" + space() + randomDocument(&rng, depth: depth + 1) + space()
            }
            return "{" + members.joined(separator: ",") + "}"
        }
    }

    static let damage: [[UInt8]] = [
        [], Array(",".utf8), Array("]".utf8), Array("}".utf8), Array("{".utf8), Array("\"".utf8), Array("\\".utf8),
        Array(":".utf8), [0x00], [0x1F], [0x80], [0xC3], [0xED, 0xA0, 0x80], Array("'".utf8), Array("1".utf8),
        Array("-".utf8), Array(".".utf8), Array("e".utf8), Array(" ".utf8), Array("\n".utf8), Array("u".utf8),
    ]

    /// Random documents, and the same documents damaged at a random place (a byte removed, replaced or inserted, or
    /// the document cut short), give the same outcome through the index and the parser.
    @Test func randomDocumentsAndDamagedOnesGiveTheSameOutcome() {
        var rng = SeededRandom(seed: 0x5EED_2026_1207)
        var refused = 0
        for _ in 0..<3000 {
            let bytes = Array(Self.randomDocument(&rng).utf8)
            expectSame(bytes)
            var damaged = bytes
            let at = Int.random(in: 0...bytes.count, using: &rng)
            switch Int.random(in: 0...3, using: &rng) {
            case 0: if at < damaged.count { damaged.remove(at: at) }
            case 1: damaged.insert(contentsOf: Self.damage.randomElement(using: &rng)!, at: at)
            case 2: if at < damaged.count { damaged[at] = Self.damage.randomElement(using: &rng)!.first ?? 0x20 }
            default: damaged = Array(damaged[..<at])
            }
            if case .error = Self.parsed(damaged) { refused += 1 }
            expectSame(damaged)
        }
        // The damage did produce errors to compare (a good share of the damaged documents are refused).
        #expect(refused > 1000)
    }
}
