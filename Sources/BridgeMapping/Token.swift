import BridgeCore
import Foundation

struct Token: Sendable {
    enum Kind: Sendable {
        case word(String)
        case string(String)
        case number(Double)
        case pipe
    }

    let kind: Kind
    let offset: Int

    static func lex(_ text: String) -> Result<[Token], TemplateError> {
        let chars = Array(text)
        var tokens: [Token] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" || c == "\n" {
                i += 1
            } else if c == "|" {
                tokens.append(Token(kind: .pipe, offset: i))
                i += 1
            } else if c == "\"" || c == "'" {
                let start = i
                i += 1
                var s = ""
                while i < chars.count, chars[i] != c {
                    if chars[i] == "\\", i + 1 < chars.count {
                        i += 1
                        switch chars[i] {
                        case "n": s.append("\n")
                        case "t": s.append("\t")
                        default: s.append(chars[i])
                        }
                    } else {
                        s.append(chars[i])
                    }
                    i += 1
                }
                guard i < chars.count else {
                    return .failure(TemplateError(offset: start, message: "unterminated string literal"))
                }
                i += 1
                tokens.append(Token(kind: .string(s), offset: start))
            } else {
                let start = i
                var w = ""
                var inQuote = false
                while i < chars.count,
                    inQuote || (chars[i] != " " && chars[i] != "|" && chars[i] != "\t" && chars[i] != "\n")
                {
                    if chars[i] == "\"" { inQuote.toggle() }
                    w.append(chars[i])
                    i += 1
                }
                if let n = Double(w), w.first.map({ $0.isNumber || $0 == "-" }) == true {
                    tokens.append(Token(kind: .number(n), offset: start))
                } else {
                    tokens.append(Token(kind: .word(w), offset: start))
                }
            }
        }
        return .success(tokens)
    }
}
