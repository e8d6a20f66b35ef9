import Foundation

/// `application/x-www-form-urlencoded` decoding.
public enum FormDecoding {
    public static func pairs(_ raw: String) -> [(name: String, value: String)] {
        raw.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(kv[0])
            let value = kv.count > 1 ? decode(kv[1]) : ""
            return (name, value)
        }
    }

    static func decode(_ s: Substring) -> String {
        let plus = s.replacingOccurrences(of: "+", with: " ")
        return plus.removingPercentEncoding ?? plus
    }
}
