/// A setting that cannot be used. Names the setting and its value; never used for secret settings' values.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case notAWholeNumber = "not_a_whole_number"
        case outOfRange = "out_of_range"
        case invalidURL = "invalid_url"
        case invalidValue = "invalid_value"
    }

    public let reason: Reason
    /// The environment variable (or flag) concerned.
    public let setting: String
    /// The value given, or nil when it must not be shown.
    public let value: String?
    /// What would be accepted, for `outOfRange` and `invalidValue`.
    public let expected: String?

    public init(_ reason: Reason, setting: String, value: String?, expected: String? = nil) {
        self.reason = reason
        self.setting = setting
        self.value = value
        self.expected = expected
    }

    public var description: String {
        let given = value.map { ", not '\($0)'" } ?? ""
        switch reason {
        case .notAWholeNumber: return "\(setting) must be a whole number\(given)"
        case .outOfRange: return "\(setting) must be \(expected ?? "in range")\(given)"
        case .invalidURL: return "\(setting) must be an http(s) URL\(given)"
        case .invalidValue: return "\(setting) must be \(expected ?? "valid")\(given)"
        }
    }
}
