import Foundation

/// The body of `POST /events`.
public struct EventsRequest: Sendable, Codable, Equatable {
    public struct Item: Sendable, Codable, Equatable {
        public struct Payload: Sendable, Codable, Equatable {
            public var type: String
            public var description: String?
            public var eventURL: String?

            public init(type: String, description: String? = nil, eventURL: String? = nil) {
                self.type = type
                self.description = description
                self.eventURL = eventURL
            }

            enum CodingKeys: String, CodingKey {
                case type, description
                case eventURL = "event_url"
            }
        }

        public var timestamp: String
        public var teamID: Int?
        public var payload: Payload

        public init(timestamp: String, teamID: Int? = nil, payload: Payload) {
            self.timestamp = timestamp
            self.teamID = teamID
            self.payload = payload
        }

        enum CodingKeys: String, CodingKey {
            case timestamp, payload
            case teamID = "team_id"
        }
    }

    public var data: [Item]

    public init(data: [Item]) {
        self.data = data
    }
}
