import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeMapping
@testable import BridgeVerification

/// The mapper reads bodies through `JSONIndex`: every path gives what it gives in the parsed `JSONValue`.
@Suite("Payload index")
struct PayloadIndexTests {
    func request(_ body: [UInt8], contentType: String = "application/json") -> IncomingRequest {
        IncomingRequest(
            source: "s", query: [], headers: HeaderBag([("Content-Type", contentType)]), body: body,
            receivedAt: Date(timeIntervalSince1970: 1_714_572_300))
    }

    /// Every path to every value of `value` (keys, indices, negative indices, digit keys on arrays), and some that
    /// lead nowhere.
    func paths(_ value: JSONValue, _ prefix: String, into out: inout [String]) {
        out.append(prefix)
        switch value {
        case .object(let o):
            out.append(prefix + ".missing")
            out.append(prefix + "[0]")
            for (k, v) in o where !k.contains(where: { $0 == "\"" }) { paths(v, prefix + ".\"\(k)\"", into: &out) }
        case .array(let a):
            out.append(prefix + "[\(a.count)]")
            out.append(prefix + ".x")
            for (i, v) in a.enumerated() {
                paths(v, prefix + "[\(i)]", into: &out)
                out.append(prefix + "[\(i - a.count)]")
                out.append(prefix + ".\(i)")
            }
        default:
            out.append(prefix + ".x")
            out.append(prefix + "[0]")
        }
    }

    @Test func everyPathOfTheFixturesReadsTheSameThroughTheIndex() throws {
        var files = [packageRoot + "/Tests/BridgeServerTests/Fixtures/payloads/deployment_status.json"]
        let examples = packageRoot + "/mappings/examples"
        for dir in try FileManager.default.contentsOfDirectory(atPath: examples) {
            for f in try FileManager.default.contentsOfDirectory(atPath: examples + "/" + dir)
            where f.hasSuffix(".json") {
                files.append(examples + "/" + dir + "/" + f)
            }
        }
        var checked = 0
        for file in files {
            let r = request(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
            let tree = MappingContext(request: r, payload: try Mapper.parseBody(r))
            let indexed = MappingContext(request: r, payload: try Mapper.indexBody(r), subpath: "")
            #expect(tree.message == indexed.message, "\(file)")
            var all: [String] = []
            paths(tree.payload, "payload", into: &all)
            if let m = tree.message { paths(m, "message", into: &all) }
            for text in all {
                let path = try PayloadPath.parse(text).get()
                #expect(indexed.lookup(path) == tree.lookup(path), "\(file): \(text)")
                checked += 1
            }
        }
        #expect(checked > 1000)
    }

    @Test func snsMessagesAndPubSubDataAreIndexedToo() throws {
        let sns = #"{"Type":"Notification","Message":"{\"detail\":{\"state\":\"FAILED\",\"n\":[1,2]}}"}"#
        let ctx = MappingContext(
            request: request(Array(sns.utf8)), payload: try Mapper.indexBody(request(Array(sns.utf8))), subpath: "")
        #expect(ctx.lookup(try PayloadPath.parse("message.detail.state").get()) == .string("FAILED"))
        #expect(ctx.lookup(try PayloadPath.parse("message.detail.n[-1]").get()) == .number(2))
        let data = ByteEncoding.base64(Array(#"{"status":"SUCCESS"}"#.utf8))
        let push =
            #"{"message":{"data":"\#(data)","attributes":{"a":"b"}},"subscription":"projects/p/subscriptions/s"}"#
        let r = request(Array(push.utf8))
        let pubsub = MappingContext(request: r, payload: try Mapper.indexBody(r), subpath: "")
        #expect(pubsub.lookup(try PayloadPath.parse("message.status").get()) == .string("SUCCESS"))
        #expect(pubsub.lookup(try PayloadPath.parse("payload.message.attributes.a").get()) == .string("b"))
    }

    @Test func aFormBodyWithAPayloadFieldIsIndexedAndOtherFormsAreFields() throws {
        let form = request(
            Array("payload=%7B%22state%22%3A%22success%22%7D&x=1".utf8),
            contentType: "application/x-www-form-urlencoded")
        let ctx = MappingContext(request: form, payload: try Mapper.indexBody(form), subpath: "")
        #expect(ctx.lookup(try PayloadPath.parse("payload.state").get()) == .string("success"))
        let fields = request(Array("a=1&b=two".utf8), contentType: "application/x-www-form-urlencoded")
        #expect(try Mapper.indexBody(fields).value == .object(["a": .string("1"), "b": .string("two")]))
        let bad = request(Array("payload=%7Bx".utf8), contentType: "application/x-www-form-urlencoded")
        #expect(throws: MappingError.self) { try Mapper.indexBody(bad) }
    }

    @Test func aMalformedBodyIsRefusedWithTheParsersMessage() throws {
        let body = Array("{\n  \"a\": 1,\n  \"b\": ]\n}".utf8)
        var parserError = ""
        do { _ = try JSONValue.parse(body) } catch { parserError = error.description }
        do {
            _ = try Mapper.indexBody(request(body))
            Issue.record("accepted")
        } catch MappingError.malformedBody(let message) {
            #expect(message == parserError)
            #expect(message.hasPrefix("line 3, column 8"))
        }
    }
}
