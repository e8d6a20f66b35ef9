/// The JSON the store keeps for explanations and event records, written by hand (it is on every webhook's path,
/// and `JSONEncoder` cost a tenth of a webhook's CPU). Read back with `JSONDecoder`: the keys and shapes are those
/// of the types' `Codable` conformances, which a test checks by round trip.
extension Explanation {
    /// Compact JSON with sorted keys, the bytes `JSONValue` would write for the same tree (a test checks it), written in one pass (keys in
    /// their sorted order by hand): it is built for every webhook, on the store's writer.
    public var storedJSON: String {
        var out: [UInt8] = []
        out.reserveCapacity(160 + rules.count * 200)
        out.append(contentsOf: #"{"notes":["#.utf8)
        for (i, note) in notes.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue._writeString(note, into: &out)
        }
        out.append(contentsOf: #"],"rejected":["#.utf8)
        for (i, r) in rejected.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"reason":"#.utf8)
            JSONValue._writeString(r.reason, into: &out)
            out.append(contentsOf: #","rule":"#.utf8)
            JSONValue._writeString(r.rule, into: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"rules":["#.utf8)
        for (i, trace) in rules.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            trace.writeStored(into: &out)
        }
        out.append(contentsOf: #"],"source":"#.utf8)
        JSONValue._writeString(source, into: &out)
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}

extension Explanation.RuleTrace {
    func writeStored(into out: inout [UInt8]) {
        out.append(contentsOf: #"{"checks":["#.utf8)
        for (i, check) in checks.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"expectation":"#.utf8)
            JSONValue._writeString(check.expectation, into: &out)
            out.append(contentsOf: check.passed ? #","passed":true,"path":"#.utf8 : #","passed":false,"path":"#.utf8)
            JSONValue._writeString(check.path, into: &out)
            if let seen = check.seen {
                out.append(contentsOf: #","seen":"#.utf8)
                JSONValue._writeString(seen, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"events":"#.utf8)
        out.append(contentsOf: String(events).utf8)
        if let items {
            out.append(contentsOf: #","items":"#.utf8)
            out.append(contentsOf: String(items).utf8)
        }
        out.append(contentsOf: matched ? #","matched":true,"metrics":"#.utf8 : #","matched":false,"metrics":"#.utf8)
        out.append(contentsOf: String(metrics).utf8)
        out.append(contentsOf: #","rule":"#.utf8)
        JSONValue._writeString(rule, into: &out)
        out.append(UInt8(ascii: "}"))
    }
}

extension EventRecord {
    /// Compact JSON with sorted keys, the bytes `JSONValue` would write for the same fields (a test checks it),
    /// written in one pass with the keys in their sorted order by hand: it is built for every event stored.
    public var storedJSON: String {
        var out: [UInt8] = []
        out.reserveCapacity(
            96 + timestamp.utf8.count + type.utf8.count + rule.utf8.count + (description?.utf8.count ?? 0)
                + (url?.utf8.count ?? 0) + (dedupeKey?.utf8.count ?? 0))
        out.append(UInt8(ascii: "{"))
        if let dedupeKey {
            out.append(contentsOf: #""dedupeKey":"#.utf8)
            JSONValue._writeString(dedupeKey, into: &out)
            out.append(UInt8(ascii: ","))
        }
        if let description {
            out.append(contentsOf: #""description":"#.utf8)
            JSONValue._writeString(description, into: &out)
            out.append(UInt8(ascii: ","))
        }
        out.append(contentsOf: #""rule":"#.utf8)
        JSONValue._writeString(rule, into: &out)
        switch team {
        case .id(let n)?:
            out.append(contentsOf: #","team":{"id":{"_0":"#.utf8)
            JSONValue._writeNumber(Double(n), into: &out)
            out.append(contentsOf: "}}".utf8)
        case .name(let s)?:
            out.append(contentsOf: #","team":{"name":{"_0":"#.utf8)
            JSONValue._writeString(s, into: &out)
            out.append(contentsOf: "}}".utf8)
        case nil:
            break
        }
        out.append(contentsOf: #","timestamp":"#.utf8)
        JSONValue._writeString(timestamp, into: &out)
        out.append(contentsOf: #","type":"#.utf8)
        JSONValue._writeString(type, into: &out)
        if let url {
            out.append(contentsOf: #","url":"#.utf8)
            JSONValue._writeString(url, into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}

extension Dictionary where Key == String, Value == String {
    /// Dimensions as compact JSON with sorted keys (the bytes `JSONValue` would write, which a test checks), written
    /// in one pass without a tree of values.
    public var storedJSON: String {
        var out: [UInt8] = []
        out.reserveCapacity(reduce(2) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 })
        out.append(UInt8(ascii: "{"))
        var first = true
        for (key, value) in sorted(by: { $0.key < $1.key }) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            JSONValue._writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            JSONValue._writeString(value, into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}

extension EventRecord {
    /// Reads what `storedJSON` wrote (the store's outbox records), through the strict parser.
    public init?(storedJSON text: String) {
        guard case .object(let o)? = try? JSONValue.parse(Array(text.utf8)),
            case .string(let timestamp)? = o["timestamp"], case .string(let type)? = o["type"],
            case .string(let rule)? = o["rule"]
        else { return nil }
        var team: TeamRef?
        if case .object(let t)? = o["team"] {
            if case .object(let id)? = t["id"], case .number(let n)? = id["_0"], let exact = Int(exactly: n) {
                team = .id(exact)
            } else if case .object(let name)? = t["name"], case .string(let s)? = name["_0"] {
                team = .name(s)
            } else {
                return nil
            }
        }
        func string(_ key: String) -> String? { if case .string(let s)? = o[key] { s } else { nil } }
        self.init(
            timestamp: timestamp, team: team, type: type, description: string("description"), url: string("url"),
            rule: rule, dedupeKey: string("dedupeKey"))
    }
}

extension EventsRequest {
    /// The request body as Cloudthread expects it (`team_id`, `event_url`), written without `JSONEncoder`.
    public var jsonBytes: [UInt8] {
        let items: [JSONValue] = data.map { item in
            var payload: [String: JSONValue] = ["type": .string(item.payload.type)]
            if let d = item.payload.description { payload["description"] = .string(d) }
            if let u = item.payload.eventURL { payload["event_url"] = .string(u) }
            var object: [String: JSONValue] = ["timestamp": .string(item.timestamp), "payload": .object(payload)]
            if let team = item.teamID { object["team_id"] = .number(Double(team)) }
            return .object(object)
        }
        return JSONValue.object(["data": .array(items)]).jsonBytes
    }
}

extension IngestRequest {
    /// The request body as Cloudthread expects it, written without `JSONEncoder`.
    public var jsonBytes: [UInt8] {
        let points: [JSONValue] = data.map { p in
            var object: [String: JSONValue] = [
                "timestamp": .string(p.timestamp), "metric_name": .string(p.metricName),
                "metric_value": .number(p.metricValue),
            ]
            if let dims = p.customDimensions { object["custom_dimensions"] = .object(dims.mapValues(JSONValue.string)) }
            return .object(object)
        }
        return JSONValue.object([
            "data_stream_token": .string(dataStreamToken), "metric_agg_func": .string(metricAggFunc),
            "data": .array(points),
        ]).jsonBytes
    }
}
