import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeMapping

/// The `replace`, `split` and `date` filters no longer call Foundation for each value (byte-level replacing and
/// splitting of ASCII text, one cached formatter per date format); they must render what Foundation rendered.
@Suite("Filters against Foundation")
struct FilterFoundationTests {
    static func values(_ count: Int, seed: UInt64) -> [String] {
        var random = SeededRandom(seed: seed)
        let pieces = [
            "deployment.", "created", "SERVICE_DEPLOYMENT_", "COMPLETED", "/", "arn:aws:ecs:eu-west-1:1:service",
            "a", "b", " ", "//", "é", "e\u{301}", "🙂", "\u{212A}", "\r\n", "\"", "\\",
        ]
        return [""]
            + (0..<count).map { _ in
                (0..<Int.random(in: 0...6, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            }
    }

    static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    @Test func replaceAndSplitRenderAsFoundation() throws {
        let patterns = ["deployment.", "/", "SERVICE_DEPLOYMENT_", "a", "é", " ", "//"]
        for value in Self.values(400, seed: 31) {
            let json = "{\"v\":" + String(decoding: JSONValue.string(value).json.utf8, as: UTF8.self) + "}"
            let c = try context(json)
            for pattern in patterns {
                let replaced = try render("{{ payload.v | replace \(Self.quoted(pattern)) \"-\" }}", c)
                #expect(replaced == value.replacingOccurrences(of: pattern, with: "-"), "\(value.debugDescription)")
                let pieces = try render("{{ payload.v | split \(Self.quoted(pattern)) | json }}", c)
                let expected = JSONValue.array(value.components(separatedBy: pattern).map(JSONValue.string)).json
                #expect(pieces == expected, "\(value.debugDescription) \(pattern.debugDescription)")
            }
        }
    }

    @Test func dateFilterFormatsAsAFreshFormatter() throws {
        var random = SeededRandom(seed: 32)
        let formats = ["yyyy-MM-dd HH:mm", "HH:mm:ss", "EEE d MMM yyyy", "yyyy-MM-dd'T'HH:mm:ss.SSS", "MMMM"]
        for _ in 0..<300 {
            let epoch = Int.random(in: 946_684_800...4_102_444_800, using: &random)
            let c = try context("{\"t\":\(epoch)}")
            for format in formats {
                let fresh = DateFormatter()
                fresh.locale = Locale(identifier: "en_US_POSIX")
                fresh.timeZone = TimeZone(identifier: "UTC")
                fresh.dateFormat = format
                let expected = fresh.string(from: Date(timeIntervalSince1970: Double(epoch)))
                #expect(try render("{{ payload.t | date \(Self.quoted(format)) }}", c) == expected)
            }
        }
    }
}
