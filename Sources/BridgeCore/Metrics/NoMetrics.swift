/// A recorder that records nothing.
public struct NoMetrics: MetricsRecorder {
    public init() {}
    public func webhook(source: String, outcome: String) {}
    public func verificationFailure(source: String, reason: String) {}
    public func recordsStored(kind: String, count: Int) {}
    public func recordsSent(kind: String, count: Int) {}
    public func deadLetters(kind: String, count: Int) {}
    public func forwardRequest(endpoint: String, result: String) {}
    public func setGauge(_ name: String, _ value: Double, help: String) {}
}
