import Testing

@testable import BridgeCore

@Suite struct SuggestionTests {
    @Test(arguments: [
        ("type", "type", 0), ("tpye", "type", 1), ("typ", "type", 1), ("types", "type", 1), ("tyqe", "type", 1),
        ("", "abc", 3), ("abc", "", 3), ("ca", "abc", 3), ("metirc", "metric", 1), ("kitten", "sitting", 3),
    ])
    func optimalStringAlignment(a: String, b: String, distance: Int) {
        #expect(editDistance(a, b) == distance)
        #expect(editDistance(b, a) == distance)
    }

    @Test func transpositionsGetASuggestion() {
        #expect(suggestion("tpye", ["type", "time", "description"]) == "; did you mean 'type'?")
        #expect(suggestion("descritpion", ["type", "time", "description"]) == "; did you mean 'description'?")
        #expect(suggestion("TPYE", ["type"]) == "; did you mean 'type'?")
    }

    @Test func farWordsGetNone() {
        #expect(suggestion("zzzz", ["type", "time"]) == "")
        #expect(suggestion("", []) == "")
    }
}
