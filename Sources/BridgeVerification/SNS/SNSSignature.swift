import Foundation

/// Synchronous verification of one parsed SNS message against the PEM certificate its
/// `SigningCertURL` points at (obtained beforehand, asynchronously, from `SNSCertificateCache`).
public enum SNSSignature {
    /// Optional policy on top of the signature itself.
    public struct Policy: Sendable, Equatable {
        /// Topic ARNs this source accepts; empty accepts any topic (AWS recommends pinning it).
        public var allowedTopicArns: Set<String>
        /// Accepted subject commonNames of the signing certificate; empty skips the check.
        /// Amazon's current SNS signing certificate says `sns.amazonaws.com`.
        public var allowedCertificateNames: Set<String>
        /// Maximum age of the message's `Timestamp`; nil skips the check. SNS retries keep the original
        /// timestamp, so this must exceed the topic's delivery-retry window.
        public var maximumAge: TimeInterval?
        /// Refuse SignatureVersion 1 (SHA1withRSA). Topics sign with version 1 unless their
        /// `SignatureVersion` attribute is set to 2, so this is opt-in.
        public var requireSignatureVersion2: Bool

        public init(
            allowedTopicArns: Set<String> = [], allowedCertificateNames: Set<String> = [],
            maximumAge: TimeInterval? = nil,
            requireSignatureVersion2: Bool = false
        ) {
            self.allowedTopicArns = allowedTopicArns
            self.allowedCertificateNames = allowedCertificateNames
            self.maximumAge = maximumAge
            self.requireSignatureVersion2 = requireSignatureVersion2
        }
    }

    /// Checks `message` with `certificatePEM`; returns normally when it is authentic.
    ///
    /// In order: SignatureVersion is "1" (SHA1withRSA) or "2" (SHA256withRSA); the Signature is base64;
    /// SigningCertURL (and SubscribeURL for confirmations) pass `SNSCertificateURL`; the topic is allowed;
    /// the certificate is within its validity period at `now`; its name is allowed; the signature
    /// verifies over `message.stringToSign`; the timestamp is fresh enough.
    ///
    /// - Parameter now: the time for the certificate validity and freshness checks.
    /// - Throws: `VerificationError`.
    public static func verify(
        message: SNSMessage, certificatePEM: [UInt8], policy: Policy = Policy(), now: Date = Date()
    ) throws {
        let sha256: Bool
        switch message.signatureVersion {
        case "1":
            guard !policy.requireSignatureVersion2 else {
                throw VerificationError(
                    .malformedSignature,
                    "SNS SignatureVersion 1 (SHA-1) is not accepted for this source; set the topic's "
                        + "SignatureVersion to 2"
                )
            }
            sha256 = false
        case "2": sha256 = true
        default:
            throw VerificationError(
                .malformedSignature,
                "SNS SignatureVersion '\(message.signatureVersion.prefix(8))' is not supported (only 1 and 2)")
        }
        guard !message.signature.isEmpty else {
            throw VerificationError(.missingSignature, "the SNS message has no Signature")
        }
        guard let signature = Data(base64Encoded: message.signature), !signature.isEmpty else {
            throw VerificationError(.malformedSignature, "the SNS Signature is not base64")
        }
        if case .failure(let refusal) = SNSCertificateURL.validateSigningCertURL(message.signingCertURL) {
            throw VerificationError(.badSignature, "SigningCertURL refused: \(refusal)")
        }
        if message.type != .notification {
            guard let subscribeURL = message.subscribeURL else {
                throw VerificationError(.malformedSignature, "the SNS confirmation has no SubscribeURL")
            }
            if case .failure(let refusal) = SNSCertificateURL.validateSubscribeURL(subscribeURL) {
                throw VerificationError(.badSignature, "SubscribeURL refused: \(refusal)")
            }
        }
        if !policy.allowedTopicArns.isEmpty, !policy.allowedTopicArns.contains(message.topicArn) {
            throw VerificationError(.badCredentials, "SNS topic is not one this source accepts")
        }
        switch Crypto.x509Validity(certificatePEM: certificatePEM, at: now) {
        case .valid: break
        case .expired: throw VerificationError(.badSignature, "the SNS signing certificate has expired")
        case .notYetValid: throw VerificationError(.badSignature, "the SNS signing certificate is not valid yet")
        case .unreadable: throw VerificationError(.badSignature, "the SNS signing certificate is unreadable")
        }
        if !policy.allowedCertificateNames.isEmpty {
            guard let name = Crypto.x509SubjectCommonName(certificatePEM: certificatePEM),
                policy.allowedCertificateNames.contains(name)
            else {
                throw VerificationError(
                    .badSignature, "the SNS signing certificate's subject name is not an accepted one")
            }
        }
        switch Crypto.x509Verify(
            certificatePEM: certificatePEM, sha256: sha256, signature: [UInt8](signature), message: message.bytesToSign)
        {
        case .valid: break
        case .invalid: throw VerificationError(.badSignature, "the SNS Signature does not match the message")
        case .unusableCertificate:
            throw VerificationError(.badSignature, "the SNS signing certificate has no usable RSA key")
        }
        if let maximumAge = policy.maximumAge {
            guard let sent = parseTimestamp(message.timestamp) else {
                throw VerificationError(.missingTimestamp, "the SNS Timestamp is not an ISO 8601 time")
            }
            if now.timeIntervalSince(sent) > maximumAge {
                throw VerificationError(.staleTimestamp, "the SNS Timestamp is older than \(Int(maximumAge)) s")
            }
            if sent.timeIntervalSince(now) > 300 {
                throw VerificationError(.futureTimestamp, "the SNS Timestamp is more than 300 s in the future")
            }
        }
    }

    /// `2022-07-28T21:23:58.317Z` (SNS always sends UTC with milliseconds; seconds-only is accepted too).
    public static func parseTimestamp(_ text: String) -> Date? {
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withFraction.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: text)
    }
}
