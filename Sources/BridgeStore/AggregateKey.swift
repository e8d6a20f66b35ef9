import BridgeCore

/// The key of an hourly aggregate, the same in both stores: stream (by its fingerprint), metric, aggregation,
/// sorted dimensions and hour.
public enum AggregateKey {
    /// `streamRef|name|aggregation|{"dim":"value",...}|hour`, appended into one string sized up front (joining the
    /// parts with interpolation allocated about ten strings per metric of every webhook).
    public static func of(_ m: MetricObservation, streamRef: String) -> String {
        var key = ""
        key.reserveCapacity(
            streamRef.utf8.count + m.name.utf8.count + m.hour.utf8.count + 24
                + m.dimensions.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 })
        key += streamRef
        key += "|"
        key += m.name
        key += "|"
        key += m.aggregation.rawValue
        key += "|{"
        for (i, name) in m.dimensions.keys.sorted().enumerated() {
            if i > 0 { key += "," }
            key += JSONValue.quote(name)
            key += ":"
            key += JSONValue.quote(m.dimensions[name]!)
        }
        key += "}|"
        key += m.hour
        return key
    }
}
