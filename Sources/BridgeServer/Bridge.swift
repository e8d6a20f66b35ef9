import AsyncHTTPClient
import BridgeCloudthread
import BridgeCore
import BridgeDelivery
import BridgeMapping
import BridgeStore
import BridgeVerification
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// A running bridge: its services, wired as docs/architecture.md describes. `serve` and the tests build it the same way.
public final class Bridge: Sendable {
    public let configuration: BridgeConfiguration
    public let logger: Logger
    public let metrics: BridgeMetrics
    public let rules: RuleSet
    public let store: any DeliveryStore & Service
    public let forwarder: Forwarder
    public let ingestor: Ingestor
    public let reloader: RuleReloader
    public let dryRunClient: DryRunCloudthreadClient?
    let httpClient: HTTPClient?
    let serviceGroup: ServiceGroup

    /// Loads the rules (refusing to start on any error), opens the store and builds the services.
    /// - Parameter onServerRunning: called with the bound port once the HTTP server listens.
    /// - Throws: `StartupError` with every diagnostic when a rule file is invalid; store errors.
    public init(
        configuration: BridgeConfiguration, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        let metrics = BridgeMetrics()
        self.metrics = metrics

        let loader = RuleLoader(environment: configuration.environment)
        let loaded = loader.load(path: configuration.mappingsPath)
        for d in loaded.diagnostics where d.severity != .error { logger.warning("\(d)") }
        guard !loaded.diagnostics.hasErrors else {
            throw StartupError(diagnostics: loaded.diagnostics)
        }
        Bridge.announce(loaded.sources, logger: logger)
        let rules = RuleSet(sources: loaded.sources, files: loaded.files)
        self.rules = rules

        if configuration.dryRun {
            logger.notice(
                """
                DRY RUN: CLOUDTHREAD_API_KEY is not set. Webhooks are verified, mapped and stored, and what would \
                be sent to Cloudthread is logged, but nothing is sent.
                """)
        }
        if configuration.streamToken == nil {
            let what = configuration.dryRun ? "shown under the token 'dry-run'" : "skipped"
            logger.notice(
                "CLOUDTHREAD_STREAM_TOKEN is not set: metrics of rules without their own stream_token are \(what)")
        }

        let store = try await configuration.openStore(logger: logger)
        self.store = store

        let client: any CloudthreadClient
        if let key = configuration.apiKey {
            let http = HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: .init(timeout: .init(connect: .seconds(10), read: .seconds(20))))
            self.httpClient = http
            self.dryRunClient = nil
            client = HTTPCloudthreadClient(
                httpClient: http, baseURL: configuration.apiURL, apiKey: key, timeout: .seconds(20))
        } else {
            self.httpClient = nil
            let dry = DryRunCloudthreadClient(logger: logger)
            self.dryRunClient = dry
            client = dry
        }
        let defaultToken = configuration.streamToken ?? (configuration.dryRun ? Secret("dry-run") : nil)
        let forwarder = Forwarder(
            store: store, client: client,
            tokens: {
                StreamTokens(rules.snapshot.sources.values.flatMap(\.streamTokens) + [defaultToken].compactMap { $0 })
            },
            configuration: configuration.forwarder, dryRun: configuration.dryRun, logger: logger, metrics: metrics)
        self.forwarder = forwarder
        let mapper = Mapper(defaultStreamToken: configuration.streamToken, dryRun: configuration.dryRun)
        // Amazon SNS signing certificates: pre-seeded (AWS_SNS_CERT_DIR), then cached in memory and in the data
        // directory, then fetched over HTTPS (from SNS hosts only, checked before anything is fetched).
        let snsCertificates = SNSCertificateCache(
            persistentDirectory: (configuration.dataDirectory as NSString).appendingPathComponent("sns-certificates"),
            seedDirectory: SNSCertificateCache.seedDirectoryFromEnvironment(configuration.environment),
            fetch: { url in try await Bridge.fetch(url, limit: 64 * 1024) })
        // Google's OIDC signing keys for Pub/Sub push tokens: pre-seeded from GCP_JWKS_FILE (then never fetched), or
        // fetched over HTTPS from Google's certificate endpoint only, at most once a minute whoever asks.
        let googleKeys: JWKSKeyCache
        do {
            googleKeys = try await JWKSKeyCache(
                provider: "Google", url: JWKSKeyCache.googleCertificatesURL,
                seedFile: configuration.environment["GCP_JWKS_FILE"].flatMap { $0.isEmpty ? nil : $0 },
                fetch: { url in try await Bridge.fetchKeySet(url) })
        } catch let error as JWKSError {
            throw ConfigurationError(
                .invalidValue, setting: "GCP_JWKS_FILE", value: configuration.environment["GCP_JWKS_FILE"],
                expected: "a readable JSON Web Key Set with RSA keys (\(error.description))")
        }
        // Microsoft Entra ID tenants' signing keys for Event Grid tokens: pre-seeded from AZURE_JWKS_FILE (then never
        // fetched), or fetched over HTTPS from login.microsoftonline.com only, at most once a minute per tenant.
        let entraKeys = JWKSDirectory(
            provider: "Microsoft Entra ID",
            seedFile: configuration.environment["AZURE_JWKS_FILE"].flatMap { $0.isEmpty ? nil : $0 },
            fetch: { url in try await Bridge.fetchKeySet(url) })
        let ingestor = Ingestor(
            rules: rules, store: store, mapper: mapper, metrics: metrics, logger: logger,
            refusals: RefusalLog(capacity: 1000), limiter: RefusalLimiter(limitPerMinute: configuration.refusalLimit),
            aggregateRetention: configuration.aggregateRetention,
            dedupeWindow: configuration.retentionDays * 86400, snsCertificates: snsCertificates,
            googleKeys: googleKeys, entraKeys: entraKeys,
            visit: { url in _ = try await Bridge.fetch(url, limit: 64 * 1024) }, onStored: { forwarder.notify() })
        self.ingestor = ingestor
        let reloader = RuleReloader(
            path: configuration.mappingsPath, loader: loader, rules: rules, metrics: metrics, logger: logger,
            watch: configuration.watchMappings)
        self.reloader = reloader

        let router = Router(context: BridgeRequestContext.self)
        // First, so every route (and the answer to an unknown path) sees the client behind a trusted proxy.
        router.add(middleware: ClientAddressMiddleware(proxies: configuration.trustedProxies))
        let duplicates = DuplicateCounter()
        // The webhooks are served by `WebhookChannelHandler` in each connection's pipeline, not by the router.
        let edge = WebhookEdge(
            ingestor: ingestor, metrics: metrics, maxBodyBytes: configuration.maxBodyBytes,
            concurrency: ConcurrencyLimit(limit: configuration.maxConcurrent),
            bodies: BodiesInProgress(limitPerClient: configuration.maxBodiesPerClient), duplicates: duplicates,
            proxies: configuration.trustedProxies)
        WebhookController(ingestor: ingestor).addRoutes(to: router)
        HealthController(
            store: store, forwarder: forwarder, rules: rules, metrics: metrics, dryRun: configuration.dryRun
        ).addRoutes(to: router)
        if let token = configuration.adminToken {
            // One count of wrong tokens per client address for the admin API and the console's sign-in.
            let attempts = AdminAttempts()
            AdminController(
                store: store, rules: rules, token: token, dryRunClient: dryRunClient, forwarder: forwarder,
                refusals: ingestor.refusals, attempts: attempts
            ).addRoutes(to: router)
            // The web console (docs/console.md): only with the admin token, which is its sign-in.
            try ConsoleController(
                store: store, rules: rules, token: token, forwarder: forwarder, refusals: ingestor.refusals,
                duplicates: duplicates, reloader: reloader, dryRun: configuration.dryRun, attempts: attempts,
                mapper: Mapper(defaultStreamToken: configuration.streamToken, dryRun: true),
                maxBodyBytes: configuration.maxBodyBytes, client: configuration.dryRun ? nil : client,
                costViewID: configuration.environment["CLOUDTHREAD_COST_VIEW_ID"].flatMap { $0.isEmpty ? nil : $0 }
            ).addRoutes(to: router)
        }
        let app = Application(
            router: router,
            server: HTTPServerBuilder { responder in
                BridgeHTTP1Channel(
                    inner: HTTP1Channel(
                        responder: responder,
                        configuration: .init(
                            additionalChannelHandlers: [
                                RequestDeadlineHandler(timeout: .seconds(Int64(min(configuration.bodyTimeout, 86400))))
                            ],
                            idleTimeout: .seconds(Int64(min(configuration.idleTimeout, 86400))))),
                    edge: edge)
            },
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "cloudthread-bridge"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        let maintenance = Maintenance(store: store, retention: configuration.retentionDays * 86400, logger: logger)

        var groupConfig = ServiceGroupConfiguration(
            services: [
                .init(service: store, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "store"),
                .init(
                    service: forwarder, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "forwarder"),
                .init(
                    service: maintenance, successTerminationBehavior: .gracefullyShutdownGroup,
                    serviceName: "maintenance"),
                .init(service: reloader, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "reloader"),
                .init(service: app, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "http"),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        groupConfig.maximumGracefulShutdownDuration = .seconds(configuration.shutdownTimeout)
        self.serviceGroup = ServiceGroup(configuration: groupConfig)
    }

    /// Runs until SIGTERM/SIGINT (or `shutdown()`): stops accepting, finishes in-flight requests and sends,
    /// flushes the store, then returns.
    public func run() async throws {
        do {
            try await serviceGroup.run()
        } catch {
            try? await httpClient?.shutdown()
            throw error
        }
        try await httpClient?.shutdown()
        logger.info("bridge stopped")
    }

    /// The client for SNS certificates and subscription confirmations: follows no redirect, so a request can only
    /// go to the SNS host that was checked. It lives as long as the process.
    static let snsClient = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10)))
    )

    /// GETs `url` (HTTPS on an SNS host, checked by the caller) with a short timeout, no redirects, and a body
    /// limit; throws on any status but 2xx.
    static func fetch(_ url: URL, limit: Int) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .GET
        let response = try await snsClient.execute(request, timeout: .seconds(10))
        guard (200..<300).contains(response.status.code) else {
            throw ConfigurationError(.invalidValue, setting: "SNS", value: nil, expected: "a 2xx answer")
        }
        return Array(buffer: try await response.body.collect(upTo: limit))
    }

    /// GETs a provider's key set (a fixed HTTPS URL) with a short timeout, no redirects and a 64 KiB limit; throws on
    /// any status but 2xx.
    static func fetchKeySet(_ url: URL) async throws -> JWKSKeyCache.Fetched {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .GET
        let response = try await snsClient.execute(request, timeout: .seconds(10))
        guard (200..<300).contains(response.status.code) else {
            throw ConfigurationError(.invalidValue, setting: "JWKS", value: nil, expected: "a 2xx answer")
        }
        let body = Array(buffer: try await response.body.collect(upTo: JWKSKeyCache.maximumSize))
        return .init(body: body, cacheControl: response.headers.first(name: "cache-control"))
    }

    /// Triggers the same graceful shutdown as SIGTERM.
    public func shutdown() async { await serviceGroup.triggerGracefulShutdown() }

    static func announce(_ sources: [SourceDefinition], logger: Logger) {
        for s in sources.sorted(by: { $0.name < $1.name }) {
            if let reason = s.disabledReason {
                logger.warning(
                    "source '\(s.name)' is DISABLED: \(reason). Requests to /hooks/\(s.name) are answered 503.",
                    metadata: ["rule.file": "\(s.file)"])
            } else if s.verifier?.scheme == .unverified {
                logger.warning("source '\(s.name)' accepts UNVERIFIED webhooks (declared in \(s.file))")
            } else {
                logger.info(
                    "source '\(s.name)' ready at /hooks/\(s.name)",
                    metadata: ["rule.file": "\(s.file)", "rule.count": "\(s.rules.count)"])
            }
        }
    }
}
