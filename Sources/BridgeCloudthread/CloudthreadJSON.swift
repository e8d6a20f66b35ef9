import BridgeCore
import Foundation

package enum CloudthreadJSON {
    /// Decodes `GET /teams`: an array of `{id, name, ...}` (id a string or a number), or that array under `data`.
    static func decodeTeams(_ bytes: [UInt8]) -> [CloudthreadTeam]? {
        guard let value = try? JSONValue.parse(bytes) else { return nil }
        let list: [JSONValue]
        switch value {
        case .array(let a): list = a
        case .object(let o):
            guard case .array(let a)? = o["data"] ?? o["teams"] else { return nil }
            list = a
        default: return nil
        }
        return list.compactMap { item in
            guard let name = item["name"]?.text, let id = item["id"].flatMap({ Int($0.text) }) else { return nil }
            return CloudthreadTeam(id: id, name: name)
        }
    }
}
