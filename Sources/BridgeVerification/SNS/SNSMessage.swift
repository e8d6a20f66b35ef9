import BridgeCore
import Foundation

/// One Amazon SNS HTTP(S) delivery: the JSON document in the body of the POST that SNS sends to a
/// subscribed endpoint (a `Notification`, `SubscriptionConfirmation` or `UnsubscribeConfirmation`).
///
/// Field names follow the JSON keys. Only the HTTP(S) delivery format is accepted: Lambda-style
/// spellings (`SigningCertUrl`, `UnsubscribeUrl`) are not, since the bridge only receives HTTP deliveries.
public struct SNSMessage: Sendable, Equatable {
    public enum MessageType: String, Sendable, CaseIterable {
        case notification = "Notification"
        case subscriptionConfirmation = "SubscriptionConfirmation"
        case unsubscribeConfirmation = "UnsubscribeConfirmation"
    }

    public var type: MessageType
    public var messageId: String
    /// Present in (and required for) the two confirmation types.
    public var token: String?
    public var topicArn: String
    /// Notifications only, and only when the publisher set one. A JSON `null` counts as absent.
    public var subject: String?
    public var message: String
    public var timestamp: String
    public var signatureVersion: String
    public var signature: String
    public var signingCertURL: String
    /// Present in (and required for) the two confirmation types.
    public var subscribeURL: String?
    /// Notifications carry it; it is not signed.
    public var unsubscribeURL: String?

    public init(
        type: MessageType, messageId: String, token: String? = nil, topicArn: String, subject: String? = nil,
        message: String, timestamp: String, signatureVersion: String, signature: String, signingCertURL: String,
        subscribeURL: String? = nil, unsubscribeURL: String? = nil
    ) {
        self.type = type
        self.messageId = messageId
        self.token = token
        self.topicArn = topicArn
        self.subject = subject
        self.message = message
        self.timestamp = timestamp
        self.signatureVersion = signatureVersion
        self.signature = signature
        self.signingCertURL = signingCertURL
        self.subscribeURL = subscribeURL
        self.unsubscribeURL = unsubscribeURL
    }

    /// Largest body accepted for parsing. SNS messages are at most 256 KiB of payload; the JSON
    /// escaping and envelope can make the document larger, so allow some headroom.
    public static let maximumBodySize = 1 << 20

    /// Parses the raw POST body.
    /// - Throws: `VerificationError` (`.missingSignature` when `Signature` is absent or empty,
    ///   `.malformedSignature` for anything else that is not a well-formed SNS document).
    public static func parse(_ body: [UInt8]) throws -> SNSMessage {
        guard body.count <= maximumBodySize else {
            throw VerificationError(.malformedSignature, "the SNS body is larger than \(maximumBodySize) bytes")
        }
        // The strict parser refuses duplicate keys, so a field cannot be read one way here and another way later.
        guard case .object(let fields)? = try? JSONValue.parse(body) else {
            throw VerificationError(.malformedSignature, "the body is not a JSON object, so not an SNS message")
        }

        func string(_ key: String) throws -> String? {
            guard let value = fields[key] else { return nil }
            if value == .null { return nil }
            // Numbers, booleans, arrays, objects: the signature is over the exact string, so refuse anything else.
            guard case .string(let text) = value else {
                throw VerificationError(.malformedSignature, "SNS field '\(key)' is not a string")
            }
            return text
        }
        func required(_ key: String) throws -> String {
            guard let value = try string(key) else {
                throw VerificationError(.malformedSignature, "SNS field '\(key)' is missing")
            }
            return value
        }

        let typeText = try required("Type")
        guard let type = MessageType(rawValue: typeText) else {
            throw VerificationError(.malformedSignature, "SNS message type '\(typeText.prefix(40))' is not supported")
        }
        guard let signature = try string("Signature"), !signature.isEmpty else {
            throw VerificationError(.missingSignature, "the SNS message has no Signature")
        }
        var parsed = SNSMessage(
            type: type, messageId: try required("MessageId"), topicArn: try required("TopicArn"),
            message: try required("Message"), timestamp: try required("Timestamp"),
            signatureVersion: try required("SignatureVersion"), signature: signature,
            signingCertURL: try required("SigningCertURL"))
        parsed.unsubscribeURL = try string("UnsubscribeURL")
        switch type {
        case .notification:
            parsed.subject = try string("Subject")
            // Token and SubscribeURL are not signed for notifications; keep them only if present.
            parsed.token = try string("Token")
            parsed.subscribeURL = try string("SubscribeURL")
        case .subscriptionConfirmation, .unsubscribeConfirmation:
            parsed.token = try required("Token")
            parsed.subscribeURL = try required("SubscribeURL")
            // Subject is not part of a confirmation's signed string; ignore it if ever present.
            parsed.subject = try string("Subject")
        }
        return parsed
    }

    /// The signed field names, in the order AWS concatenates them.
    public var signedKeys: [String] {
        switch type {
        case .notification:
            subject == nil
                ? ["Message", "MessageId", "Timestamp", "TopicArn", "Type"]
                : ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        case .subscriptionConfirmation, .unsubscribeConfirmation:
            ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        }
    }

    private func value(of key: String) -> String {
        switch key {
        case "Message": message
        case "MessageId": messageId
        case "Subject": subject ?? ""
        case "SubscribeURL": subscribeURL ?? ""
        case "Timestamp": timestamp
        case "Token": token ?? ""
        case "TopicArn": topicArn
        case "Type": type.rawValue
        default: ""
        }
    }

    /// The canonical string to sign: `Key\nValue\n` for every signed key, values as decoded from JSON
    /// (escapes such as `\n` turned back into the characters they stand for).
    public var stringToSign: String {
        var out = ""
        for key in signedKeys {
            out += key
            out += "\n"
            out += value(of: key)
            out += "\n"
        }
        return out
    }

    /// The bytes that were signed (UTF-8 of `stringToSign`).
    public var bytesToSign: [UInt8] { Array(stringToSign.utf8) }

    /// The region part of the topic ARN (`arn:<partition>:sns:<region>:<account>:<name>`), or nil.
    public var topicRegion: String? {
        let parts = topicArn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 6, parts[0] == "arn", parts[2] == "sns", !parts[3].isEmpty else { return nil }
        return String(parts[3])
    }

    /// Checks the `x-amz-sns-message-type` / `x-amz-sns-topic-arn` headers (when present) against the
    /// body. Not a security control (the headers are unsigned), but a mismatch means a broken or forged
    /// request that should not be processed.
    public func checkHeaders(messageType: String?, topicArn: String?) throws {
        if let messageType, messageType != type.rawValue {
            throw VerificationError(.malformedSignature, "header x-amz-sns-message-type does not match the body's Type")
        }
        if let topicArn, topicArn != self.topicArn {
            throw VerificationError(
                .malformedSignature, "header x-amz-sns-topic-arn does not match the body's TopicArn")
        }
    }
}
