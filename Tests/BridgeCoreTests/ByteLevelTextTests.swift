import Foundation
import Testing

@testable import BridgeCore

/// Random text for comparing the byte-level replacements with the Foundation (or `lowercased()`) code they
/// replaced: ASCII in both cases, the words the bridge looks for, and the non-ASCII characters whose case rules
/// are not ASCII's (the Kelvin sign lowercases to `k`, `İ` to `i` and a combining dot, `ß`, final sigma, a
/// decomposed `é`, CR LF as one character).
struct TextSamples {
    static let pieces = [
        "a", "B", "z", "Z", "0", "9", "-", "_", ".", " ", "/", ":", "=", "\t", "key", "KEY", "Token", "SECRET",
        "signature", "Authorization", "cookie", "PassWord", "x-hub-", "X-GitHub-", "Delivery", "sha256=",
        "\u{212A}", "\u{212A}ey", "\u{130}", "\u{131}", "é", "e\u{301}", "ß", "\u{3A3}", "\u{17F}", "ﬀ", "🙂",
        "\r\n", "\r", "\n", "\u{0}", "ǅ", "Ω", "\u{2126}",
    ]

    static func strings(count: Int, seed: UInt64, maxPieces: Int = 6) -> [String] {
        var random = SeededRandom(seed: seed)
        var out = ["", "a", "A", "key", "KEY", "K", "\u{212A}"]
        for _ in 0..<count {
            let n = Int.random(in: 0...maxPieces, using: &random)
            out.append((0..<n).map { _ in pieces.randomElement(using: &random)! }.joined())
        }
        return out
    }

    /// ASCII only, so that the fast paths (not only their fallbacks) are compared.
    static func asciiStrings(count: Int, seed: UInt64, alphabet: String = "abcAB-_ ./:=kKeyY") -> [String] {
        var random = SeededRandom(seed: seed)
        let letters = Array(alphabet)
        return (0..<count).map { _ in
            String((0..<Int.random(in: 0...12, using: &random)).map { _ in letters.randomElement(using: &random)! })
        }
    }
}

@Suite struct ByteLevelTextTests {
    @Test func caseInsensitiveEqualsMatchesLowercasing() {
        let samples =
            TextSamples.strings(count: 400, seed: 1, maxPieces: 3)
            + TextSamples.asciiStrings(count: 300, seed: 2, alphabet: "aAbB-")
        var compared = 0
        for a in samples {
            for b in samples.prefix(200) {
                #expect(
                    ASCIICase.equals(a, b) == (a.lowercased() == b.lowercased()),
                    "\(a.debugDescription) \(b.debugDescription)")
                compared += 1
            }
        }
        #expect(ASCIICase.equals("X-Hub-Signature-256", "x-hub-signature-256"))
        #expect(!ASCIICase.equals("X-Hub-Signature-256", "x-hub-signature-25"))
        #expect(ASCIICase.equals("\u{212A}ey", "key"))  // the Kelvin sign: not ASCII, decided by lowercasing
        #expect(!ASCIICase.equals("[", "{"))  // 0x5B and 0x7B differ by the case bit but are not letters
        #expect(compared > 100_000)
    }

    @Test func containsAnyMatchesFoundationContains() {
        let words = ["signature", "token", "authorization", "secret", "key", "cookie", "password"]
        let bytes = words.map { Array($0.utf8) }
        var ascii = 0
        for text in TextSamples.strings(count: 3000, seed: 3) + TextSamples.asciiStrings(count: 3000, seed: 4) {
            let old = words.contains { text.lowercased().contains($0) }
            if let fast = ASCIICase.containsAny(text, bytes) {
                #expect(fast == old, "\(text.debugDescription)")
                ascii += 1
            } else {
                #expect(text.utf8.contains { $0 >= 0x80 }, "nil only for text that is not ASCII")
            }
        }
        #expect(ascii > 3000)
        #expect(ASCIICase.containsAny("X-Api-KEY", bytes) == true)
        #expect(ASCIICase.containsAny("X-Ke", bytes) == false)
        #expect(ASCIICase.containsAny("", bytes) == false)
        #expect(ASCIICase.containsAny("\u{212A}ey", bytes) == nil)
    }

    @Test func replacingAndSplittingMatchFoundation() {
        let texts = TextSamples.asciiStrings(count: 600, seed: 5) + TextSamples.strings(count: 300, seed: 6)
        let patterns = ["a", "ab", "/", " ", "kK", "==", "", "aa", "é", "e\u{301}", "\r", "Key", "z"]
        for text in texts {
            for pattern in patterns {
                let old = text.replacingOccurrences(of: pattern, with: "<\(pattern)>")
                if let fast = ASCIIText.replacing(text, pattern, with: "<\(pattern)>") {
                    #expect(fast == old, "\(text.debugDescription) \(pattern.debugDescription)")
                    #expect(
                        ASCIIText.replacing(text, pattern, with: "") == text.replacingOccurrences(of: pattern, with: "")
                    )
                }
                if let fast = ASCIIText.split(text, separator: pattern) {
                    #expect(
                        fast == text.components(separatedBy: pattern),
                        "\(text.debugDescription) \(pattern.debugDescription)")
                }
            }
        }
        #expect(ASCIIText.replacing("deployment.created", "deployment.", with: "") == "created")
        #expect(ASCIIText.replacing("aaa", "aa", with: "b") == "ba")
        #expect(ASCIIText.split("a//b/", separator: "/") == ["a", "", "b", ""])
        #expect(ASCIIText.split("", separator: "/") == [""])
        #expect(ASCIIText.split("é/b", separator: "/") == nil)
        #expect(ASCIIText.replacing("abc", "", with: "x") == nil)
    }

    /// The formatting that `CloudthreadTime.hour` replaced, kept to compare with.
    static func oldHour(_ date: Date) -> String {
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        let raw = date.timeIntervalSince1970
        let clamped = raw.isFinite ? min(max(raw, -62_135_596_800), 253_402_300_799.0) : 0
        let seconds = Int(clamped.rounded(.down))
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let (y, m, d) = CloudthreadTime.civil(fromDays: days)
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + " " + pad((seconds - days * 86400) / 3600, 2) + ":00:00"
    }

    @Test func hourFormatsAsBefore() {
        var random = SeededRandom(seed: 7)
        var dates = [-1e300, -62_135_596_800, -62_135_596_801, -1, 0, 0.5, 3599.999, 3600, 253_402_300_799, 1e300]
            .map(Date.init(timeIntervalSince1970:))
        dates += [Date(timeIntervalSince1970: .nan), Date(timeIntervalSince1970: .infinity)]
        for _ in 0..<20_000 {
            dates.append(
                Date(timeIntervalSince1970: Double.random(in: -62_135_596_800...253_402_300_799, using: &random)))
        }
        let formatter = ISO8601DateFormatter()
        for date in dates {
            let hour = CloudthreadTime.hour(date)
            #expect(hour == Self.oldHour(date))
            #expect(hour.utf8.count == 19)
            // Within the years a formatter shows with four digits, Foundation agrees too.
            let t = date.timeIntervalSince1970
            if t.isFinite, t >= -12_212_553_600, t <= 253_402_300_799 {
                let iso = formatter.string(from: date)  // 2024-05-01T13:45:10Z
                #expect(hour == iso.prefix(10) + " " + iso.dropFirst(11).prefix(2) + ":00:00")
            }
        }
    }

    static func httpFormatter() -> DateFormatter {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f
    }

    @Test func httpDatesMatchDateFormatter() throws {
        let formatter = Self.httpFormatter()
        var random = SeededRandom(seed: 8)
        var times: [Double] = [0, -1, 0.999, 784_111_777, 951_782_400, 1_709_164_800, -12_212_553_600, 253_402_300_799]
        for _ in 0..<5000 { times.append(Double.random(in: -12_212_553_600..<253_402_300_800, using: &random)) }
        for _ in 0..<500 { times.append(Double(Int.random(in: 0...4_102_444_800, using: &random))) }
        for t in times {
            let date = Date(timeIntervalSince1970: t)
            let text = try #require(HTTPDate.format(date))
            #expect(text == formatter.string(from: date), "\(t)")
            let parsed = try #require(HTTPDate.parse(text), "\(text)")
            #expect(parsed == formatter.date(from: text), "\(text)")
            #expect(abs(parsed.timeIntervalSince1970 - t) < 1.001)
        }
        #expect(HTTPDate.format(Date(timeIntervalSince1970: -12_212_553_601)) == nil)
        #expect(HTTPDate.format(Date(timeIntervalSince1970: .nan)) == nil)
        #expect(HTTPDate.format(Date(timeIntervalSince1970: 784_111_777)) == "Sun, 06 Nov 1994 08:49:37 GMT")
        // Anything but the exact form is left to the formatter (nil here).
        for text in [
            "", "Sun, 06 Nov 1994 08:49:37 GMT ", "Mon, 06 Nov 1994 08:49:37 GMT", "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Tue, 30 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT", "Sun, 06 Nov 1994 08:60:37 GMT", "Sun, 06 Nov 1994 08:49:60 GMT",
            "Sun, 06 Nov 1994 08:49:3x GMT", "Fri, 01 Jan 1500 00:00:00 GMT",
        ] {
            #expect(HTTPDate.parse(text) == nil, "\(text)")
        }
        #expect(
            HTTPDate.parse("Tue, 29 Feb 2000 00:00:00 GMT") == formatter.date(from: "Tue, 29 Feb 2000 00:00:00 GMT"))
    }

    @Test func rfc3339ParsesAsFoundation() {
        let iso = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var random = SeededRandom(seed: 9)
        for _ in 0..<5000 {
            let date = Date(timeIntervalSince1970: Double(Int.random(in: 0...4_102_444_800, using: &random)))
            let text = iso.string(from: date)
            #expect(TimeParsing.parse(text) == date)
            #expect(TimeParsing.parse(" " + text + "\n") == date)
            let millis = Date(timeIntervalSince1970: date.timeIntervalSince1970 + 0.25)
            #expect(TimeParsing.parse(fractional.string(from: millis)) == millis)
        }
        #expect(TimeParsing.parse("2019-05-15T15:20:36+02:00") == iso.date(from: "2019-05-15T15:20:36+02:00"))
        #expect(TimeParsing.parse("2019-05-15 15:20:36 UTC") == iso.date(from: "2019-05-15T15:20:36Z"))
        #expect(TimeParsing.parse("2019-05-15T15:20:36Q") == nil)
        #expect(TimeParsing.parse("2019-13-15T15:20:36Z") == nil)
    }
}
