import AsyncHTTPClient
import BridgeCore

/// `check`'s look-up of the organisation's teams.
public enum TeamCheck {
    public static func fetchTeams(baseURL: String, apiKey: Secret) async -> Result<[String], CloudthreadClientError> {
        let client = HTTPCloudthreadClient(
            httpClient: HTTPClient.shared, baseURL: baseURL, apiKey: apiKey, timeout: .seconds(10))
        return await client.teams().map { $0.map(\.name) }
    }
}
