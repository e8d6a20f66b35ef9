import Foundation

/// Cloudthread's limits (description length, dimensions, hourly timestamps), applied before anything is stored.
public enum CloudthreadLimits {
    public static let descriptionLength = 1000
    public static let maxDimensions = 10

    /// Cuts a description to 1000 characters (Unicode scalars, the stricter count), ending in `…` when cut.
    public static func clampDescription(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > descriptionLength else { return text }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars.prefix(descriptionLength - 1))
        let s = String(out)
        return s + "…"
    }
}
