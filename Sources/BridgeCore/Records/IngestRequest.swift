import Foundation

/// The body of `POST /streams/ingest`.
public struct IngestRequest: Sendable, Codable, Equatable {
    public struct Point: Sendable, Codable, Equatable {
        public var timestamp: String
        public var metricName: String
        public var metricValue: Double
        public var customDimensions: [String: String]?

        public init(
            timestamp: String, metricName: String, metricValue: Double, customDimensions: [String: String]? = nil
        ) {
            self.timestamp = timestamp
            self.metricName = metricName
            self.metricValue = metricValue
            self.customDimensions = customDimensions
        }

        enum CodingKeys: String, CodingKey {
            case timestamp
            case metricName = "metric_name"
            case metricValue = "metric_value"
            case customDimensions = "custom_dimensions"
        }
    }

    public var dataStreamToken: String
    public var metricAggFunc: String
    public var data: [Point]

    public init(dataStreamToken: String, metricAggFunc: String, data: [Point]) {
        self.dataStreamToken = dataStreamToken
        self.metricAggFunc = metricAggFunc
        self.data = data
    }

    enum CodingKeys: String, CodingKey {
        case data
        case dataStreamToken = "data_stream_token"
        case metricAggFunc = "metric_agg_func"
    }
}
