/// A provider's exact verification scheme, plus where it puts its delivery id.
public struct VerificationPreset: Sendable {
    public let name: String
    public let provider: String
    public let scheme: VerificationScheme
    /// Header whose value identifies a delivery across retries, when the provider sends one.
    public let deliveryIdHeader: String?
    /// What the secrets of this preset are, for docs and `check` messages.
    public let secretMeaning: String

    public static func named(_ name: String) -> VerificationPreset? { all.first { $0.name == name } }

    public static var names: [String] { all.map(\.name) }

    /// Presets whose every delivery body carries its own ids or times and whose signature does not cover the
    /// delivery id header: a byte-identical body re-sent with a fresh delivery id is a replay, so their sources
    /// deduplicate by the body (`dedupe: body`) unless the rule file says `dedupe: { body: false }`.
    public static let bodyDedupePresets: Set<String> = [
        "github", "gitlab", "bitbucket", "bitbucket-server", "jira", "pagerduty", "sentry",
    ]

    /// True when sources of this preset deduplicate by the body by default.
    public var dedupesBody: Bool { Self.bodyDedupePresets.contains(name) }

    static func standardWebhooks(
        _ name: String, _ provider: String, prefix: String = "webhook", deliveryId: String? = nil
    ) -> VerificationPreset {
        VerificationPreset(
            name: name, provider: provider,
            scheme: .hmac(
                HMACScheme(
                    algorithm: .sha256, header: "\(prefix)-signature", format: .list(separator: " ", prefix: "v1,"),
                    encoding: .base64,
                    signed: [.header("\(prefix)-id"), .literal("."), .timestamp, .literal("."), .body],
                    timestampHeader: "\(prefix)-timestamp", secretFormat: .standardWebhooks)),
            deliveryIdHeader: deliveryId ?? "\(prefix)-id", secretMeaning: "signing secret (whsec_…)")
    }

    static func hex(
        _ name: String, _ provider: String, _ algorithm: HMACAlgorithm = .sha256, header: String, prefix: String = "",
        deliveryId: String? = nil
    ) -> VerificationPreset {
        VerificationPreset(
            name: name, provider: provider,
            scheme: .hmac(HMACScheme(algorithm: algorithm, header: header, format: .single(prefix: prefix))),
            deliveryIdHeader: deliveryId, secretMeaning: "webhook secret")
    }

    /// Every preset, in documentation order.
    public static let all: [VerificationPreset] = [
        hex("github", "GitHub", header: "X-Hub-Signature-256", prefix: "sha256=", deliveryId: "X-GitHub-Delivery"),
        VerificationPreset(
            name: "gitlab", provider: "GitLab (secret token)", scheme: .token(header: "X-Gitlab-Token", prefix: ""),
            deliveryIdHeader: "Idempotency-Key", secretMeaning: "secret token"),
        standardWebhooks("gitlab-signing", "GitLab (signing token, 19.0+)"),
        standardWebhooks("standard-webhooks", "Standard Webhooks (v1, HMAC-SHA256)"),
        VerificationPreset(
            name: "standard-webhooks-ed25519", provider: "Standard Webhooks (v1a, Ed25519)",
            scheme: .ed25519(header: "webhook-signature", idHeader: "webhook-id", timestampHeader: "webhook-timestamp"),
            deliveryIdHeader: "webhook-id", secretMeaning: "public key (whpk_…)"),
        standardWebhooks("svix", "Svix", prefix: "svix"),
        standardWebhooks("incident-io", "incident.io"),
        standardWebhooks("render", "Render"),
        standardWebhooks("ci", "cloudthread-bridge send (CI helper)"),
        VerificationPreset(
            name: "pagerduty", provider: "PagerDuty (v3 webhooks)",
            scheme: .hmac(
                HMACScheme(
                    algorithm: .sha256, header: "X-PagerDuty-Signature", format: .list(separator: ",", prefix: "v1="))),
            deliveryIdHeader: "X-Webhook-Id", secretMeaning: "subscription secret"),
        hex("bitbucket", "Bitbucket Cloud", header: "X-Hub-Signature", prefix: "sha256=", deliveryId: "X-Request-UUID"),
        hex(
            "bitbucket-server", "Bitbucket Data Center", header: "X-Hub-Signature", prefix: "sha256=",
            deliveryId: "X-Request-Id"),
        hex(
            "jira", "Jira Cloud / JSM", header: "X-Hub-Signature", prefix: "sha256=",
            deliveryId: "X-Atlassian-Webhook-Identifier"),
        VerificationPreset(
            name: "circleci", provider: "CircleCI",
            scheme: .hmac(
                HMACScheme(
                    algorithm: .sha256, header: "circleci-signature", format: .list(separator: ",", prefix: "v1="))),
            deliveryIdHeader: nil, secretMeaning: "signing secret"),
        VerificationPreset(
            name: "buildkite", provider: "Buildkite (signature)",
            scheme: .hmac(
                HMACScheme(
                    algorithm: .sha256, header: "X-Buildkite-Signature",
                    format: .parameters(separator: ",", signatureKey: "signature", timestampKey: "timestamp"),
                    signed: [.timestamp, .literal("."), .body])),
            deliveryIdHeader: nil, secretMeaning: "webhook token"),
        VerificationPreset(
            name: "buildkite-token", provider: "Buildkite (token)",
            scheme: .token(header: "X-Buildkite-Token", prefix: ""),
            deliveryIdHeader: nil, secretMeaning: "webhook token"),
        hex("flux", "Flux (generic-hmac)", header: "X-Signature", prefix: "sha256="),
        hex("vercel", "Vercel", .sha1, header: "x-vercel-signature"),
        VerificationPreset(
            name: "netlify", provider: "Netlify (JWS)", scheme: .jws(header: "X-Webhook-Signature", issuer: "netlify"),
            deliveryIdHeader: nil, secretMeaning: "JWS secret"),
        VerificationPreset(
            name: "heroku", provider: "Heroku",
            scheme: .hmac(HMACScheme(algorithm: .sha256, header: "Heroku-Webhook-Hmac-SHA256", encoding: .base64)),
            deliveryIdHeader: nil, secretMeaning: "webhook secret"),
        hex("terraform-cloud", "HCP Terraform / TFE", .sha512, header: "X-TFE-Notification-Signature"),
        VerificationPreset(
            name: "rootly", provider: "Rootly",
            scheme: .hmac(
                HMACScheme(
                    algorithm: .sha256, header: "X-Rootly-Signature",
                    format: .parameters(separator: ",", signatureKey: "v1", timestampKey: "t"),
                    signed: [.timestamp, .body])),
            deliveryIdHeader: nil, secretMeaning: "webhook secret"),
        hex("sentry", "Sentry (integration platform)", header: "Sentry-Hook-Signature", deliveryId: "Request-ID"),
        hex("firehydrant", "FireHydrant", header: "fh-signature"),
        hex("grafana", "Grafana alerting (HMAC)", header: "X-Grafana-Alerting-Signature"),
        VerificationPreset(
            name: "travis", provider: "Travis CI (RSA-SHA1 over the payload field)",
            scheme: .rsa(header: "Signature", digest: .sha1, formField: "payload"), deliveryIdHeader: nil,
            secretMeaning: "Travis's PEM public key (from <api host>/config)"),
        VerificationPreset(
            name: "drone", provider: "Drone (HTTP Signatures, hmac-sha256 + Digest)",
            scheme: .httpSignature(header: "Signature"),
            deliveryIdHeader: nil, secretMeaning: "DRONE_WEBHOOK_SECRET"),
        VerificationPreset(
            name: "splunk-oncall", provider: "Splunk On-Call / VictorOps (URL + sorted form, HMAC-SHA1)",
            scheme: .urlAndForm(header: "X-VictorOps-Signature", url: ""), deliveryIdHeader: nil,
            secretMeaning: "the webhook auth key; needs verify.url, the webhook URL exactly as configured"),
        VerificationPreset(
            name: "bearer", provider: "Authorization: Bearer (Alertmanager, Grafana, Jenkins, ...)",
            scheme: .token(header: "Authorization", prefix: "Bearer "), deliveryIdHeader: nil,
            secretMeaning: "bearer token"),
        VerificationPreset(
            name: "alertmanager", provider: "Prometheus Alertmanager (authorization)",
            scheme: .token(header: "Authorization", prefix: "Bearer "), deliveryIdHeader: nil,
            secretMeaning: "bearer token"),
        VerificationPreset(
            name: "basic", provider: "HTTP basic (Argo CD, Azure DevOps, Bitbucket Server, ...)",
            scheme: .basic(user: ""),
            deliveryIdHeader: nil, secretMeaning: "password"),
        VerificationPreset(
            name: "url-token", provider: "Token in the URL (?token=...: Statuspage, Better Stack, ...)",
            scheme: .queryToken(parameter: "token"), deliveryIdHeader: nil, secretMeaning: "URL token"),
        VerificationPreset(
            name: "header-token", provider: "Static header (Opsgenie, Datadog, Spinnaker, Squadcast, ...)",
            scheme: .token(header: "X-Webhook-Token", prefix: ""), deliveryIdHeader: nil, secretMeaning: "token"),
        VerificationPreset(
            name: "aws-eventbridge", provider: "AWS EventBridge API destination (API key connection)",
            scheme: .token(header: "Authorization", prefix: ""), deliveryIdHeader: nil,
            secretMeaning: "the connection's API key value (its key name is Authorization)"),
        VerificationPreset(
            name: "aws-sns", provider: "Amazon SNS (HTTPS subscription, SignatureVersion 1 and 2)",
            scheme: .awsSNS(topics: [], confirmSubscriptions: false), deliveryIdHeader: "x-amz-sns-message-id",
            secretMeaning: "none: AWS signs with its certificate; 'topics' lists the accepted topic ARNs"),
        VerificationPreset(
            name: "gcp-pubsub", provider: "Google Cloud Pub/Sub push (OIDC token, RS256)",
            scheme: .gcpPubSub(audience: "", serviceAccounts: []), deliveryIdHeader: nil,
            secretMeaning:
                "none: Google signs the token with its keys; 'audience' and 'service_accounts' say which tokens count"),
        VerificationPreset(
            name: "azure-eventgrid",
            provider: "Azure Event Grid (Entra ID token, or a shared secret in ?code= or a header)",
            scheme: .azureEventGrid(EventGridAuth()), deliveryIdHeader: nil,
            secretMeaning:
                "the shared secret (?code= or X-Webhook-Secret); none with 'tenant' and 'audience' (Entra ID tokens)"),
    ]
}
