import Foundation

/// The body of `POST /events`.
public struct EventsRequest: Sendable, Codable, Equatable {
    public struct Item: Sendable, Codable, Equatable {
        public struct Payload: Sendable, Codable, Equatable {
            public var type: String
            public var description: String?
            public var event_url: String?

            public init(type: String, description: String? = nil, event_url: String? = nil) {
                self.type = type
                self.description = description
                self.event_url = event_url
            }
        }

        public var timestamp: String
        public var team_id: Int?
        public var payload: Payload

        public init(timestamp: String, team_id: Int? = nil, payload: Payload) {
            self.timestamp = timestamp
            self.team_id = team_id
            self.payload = payload
        }
    }

    public var data: [Item]

    public init(data: [Item]) {
        self.data = data
    }
}

/// The body of `POST /streams/ingest`.
public struct IngestRequest: Sendable, Codable, Equatable {
    public struct Point: Sendable, Codable, Equatable {
        public var timestamp: String
        public var metric_name: String
        public var metric_value: Double
        public var custom_dimensions: [String: String]?

        public init(timestamp: String, metric_name: String, metric_value: Double, custom_dimensions: [String: String]? = nil) {
            self.timestamp = timestamp
            self.metric_name = metric_name
            self.metric_value = metric_value
            self.custom_dimensions = custom_dimensions
        }
    }

    public var data_stream_token: String
    public var metric_agg_func: String
    public var data: [Point]

    public init(data_stream_token: String, metric_agg_func: String, data: [Point]) {
        self.data_stream_token = data_stream_token
        self.metric_agg_func = metric_agg_func
        self.data = data
    }
}
