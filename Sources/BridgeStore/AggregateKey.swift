import BridgeCore

/// The key of an hourly aggregate, the same in both stores: stream (by its fingerprint), metric, aggregation,
/// sorted dimensions and hour.
public enum AggregateKey {
    public static func of(_ m: MetricObservation, streamRef: String) -> String {
        let dims = m.dimensions.keys.sorted().map { "\(JSONValue.quote($0)):\(JSONValue.quote(m.dimensions[$0]!))" }
            .joined(separator: ",")
        return "\(streamRef)|\(m.name)|\(m.aggregation.rawValue)|{\(dims)}|\(m.hour)"
    }
}
