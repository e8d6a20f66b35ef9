/// What the pipeline counts, independent of how it is exported: the server implements it with Prometheus,
/// tools and tests may use `NoMetrics`. Labels never carry secrets or payload values.
public protocol MetricsRecorder: Sendable {
    /// One webhook answered, by source and outcome.
    func webhook(source: String, outcome: String)
    /// One webhook refused by verification, by reason.
    func verificationFailure(source: String, reason: String)
    func recordsStored(kind: String, count: Int)
    func recordsSent(kind: String, count: Int)
    func deadLetters(kind: String, count: Int)
    /// One request to Cloudthread, by endpoint and result.
    func forwardRequest(endpoint: String, result: String)
    func setGauge(_ name: String, _ value: Double, help: String)
}
