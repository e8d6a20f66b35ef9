import AsyncHTTPClient
import BridgeStore
import BridgeStoreTestKit
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import BridgeCore
@testable import BridgeServer

/// The console's overview charts, `/ui/try` and `/ui/timeline`, over loopback HTTP against the real bridge.
@Suite("Console pages", .serialized)
struct ConsolePagesTests {
    typealias Browser = ConsoleTests.Browser

    static func harness(
        rules: [String: String] = ["deploys.yaml": deployRules],
        _ configure: @escaping @Sendable (inout BridgeConfiguration) -> Void = { _ in }
    ) async throws -> BridgeHarness {
        let h = try await BridgeHarness(rules: rules) { c in
            c.adminToken = Secret(ConsoleTests.adminToken)
            configure(&c)
        }
        return h
    }

    /// Deploy payloads at `at` (RFC 3339).
    static func iso(_ date: Date) -> String { date.formatted(.iso8601) }

    @Test func theOverviewShowsConfiguredSourcesFirstWithStackedChartsAndTheirTextEquivalent() async throws {
        let disabled = deployRules.replacingOccurrences(of: "source: deploys", with: "source: aaa-unused")
            .replacingOccurrences(of: "TEST_WEBHOOK_SECRET", with: "AAA_UNUSED_SECRET")
        let h = try await Self.harness(rules: ["deploys.yaml": deployRules, "aaa.yaml": disabled])
        try await h.start()
        let b = Browser(port: h.port)
        #expect(try await h.postGitHub(body: deployBody(), delivery: "one").status == 202)
        #expect(try await h.postGitHub(body: deployBody(), delivery: "one").status == 200)
        #expect(try await h.postGitHub(body: deployBody(state: "queued")).status == 202)
        #expect(try await h.postGitHub(body: deployBody(), secret: "wrong").status == 401)
        await h.eventually("the event and the metric are sent") {
            let stats = try? await h.bridge.store.stats(now: Date())
            return h.fake.events.count == 1 && stats.map { $0.pending + $0.inflight } == 0
        }
        _ = try await b.signIn()
        let page = try await b.get("/ui/")
        #expect(page.status == 200)
        let text = page.text
        // The configured source's card comes before the line listing the disabled one, which says what to set.
        let card = try #require(text.range(of: "id=\"source-deploys\""))
        let line = try #require(text.range(of: "Not configured, so disabled (1):"))
        #expect(card.lowerBound < line.lowerBound)
        #expect(text.contains("aaa-unused (set AAA_UNUSED_SECRET)"))
        #expect(!text.contains("id=\"source-aaa-unused\""))
        // The chart: an image named by its title and description, each outcome its own class (and pattern).
        #expect(text.contains("role=\"img\" aria-labelledby=\"chart-source-0-title chart-source-0-desc\""))
        #expect(text.contains("<title id=\"chart-source-0-title\">deploys: webhooks per hour, last 24 hours</title>"))
        #expect(text.contains("1 accepted, 1 ignored, 0 rejected, 1 refused, 1 duplicates"))
        for key in ["accepted", "ignored", "refused", "duplicate"] {
            #expect(text.contains("<rect class=\"\(key)\" x="), "\(key)")
        }
        #expect(!text.contains("<rect class=\"rejected\" x="))
        #expect(text.contains("<pattern id=\"pat-stripes\""))
        #expect(text.contains("deploys: webhooks per hour, last 24 hours: the numbers"))
        // The forwarder's chart over the same hours: the event and the metric were sent.
        #expect(text.contains("aria-labelledby=\"chart-forwarder-title chart-forwarder-desc\""))
        #expect(text.contains("<rect class=\"sent\" x="))
        #expect(text.contains("2 sent, 0 pending, 0 dead letters"))
        // No inline style: the CSP (default-src 'self') would block it.
        #expect(!text.contains("style="))
        #expect(page.headers["Content-Security-Policy"].first?.contains("default-src 'self'") == true)
        await b.close()
        await h.finish()
    }

    @Test func tryShowsTheMatchedRuleAndTheRequestsAndStoresNothing() async throws {
        let h = try await Self.harness { c in c.maxBodyBytes = 2000 }
        try await h.start()
        let b = Browser(port: h.port)
        _ = try await b.signIn()
        let form = try await b.get("/ui/try")
        #expect(form.status == 200)
        #expect(form.text.contains("<option value=\"deploys\""))
        let csrf = try await b.csrf(on: "/ui/try")
        let body = String(decoding: deployBody(service: "billing"), as: UTF8.self)
        let fields = [
            ("source", "deploys"), ("headers", "X-GitHub-Event: deployment_status\nX-GitHub-Delivery: abc"),
            ("body", body), ("path", ""), ("delivery", ""),
        ]
        // Without the session's CSRF token: refused.
        let refused = try await b.request(.POST, "/ui/try", form: fields + [("csrf", "wrong")])
        #expect(refused.status == 403)
        let tried = try await b.request(.POST, "/ui/try", form: fields + [("csrf", csrf)])
        #expect(tried.status == 200)
        #expect(tried.text.contains("Matched rule <code>deploy</code>"))
        #expect(tried.text.contains("Outcome: <strong>accepted (202)</strong>"))
        #expect(tried.text.contains("rule deploy: MATCHED"))
        #expect(tried.text.contains("POST /events"))
        #expect(tried.text.contains("billing to production: success"))
        // Nothing stored, nothing sent.
        #expect(try await h.bridge.store.deliveries(limit: 10, source: nil).isEmpty)
        try await Task.sleep(for: .milliseconds(300))
        #expect(h.fake.events.isEmpty)

        // A rule that does not match says which condition failed.
        let other = try await b.request(
            .POST, "/ui/try",
            form: [("source", "deploys"), ("headers", "X-GitHub-Event: push"), ("body", body), ("csrf", csrf)])
        #expect(other.text.contains("No rule matched."))
        #expect(other.text.contains("FAIL header.X-GitHub-Event"))

        // The webhook path's errors: not JSON (400) and too large (413), with the same words.
        let notJSON = try await b.request(
            .POST, "/ui/try", form: [("source", "deploys"), ("headers", ""), ("body", "{nope"), ("csrf", csrf)])
        #expect(notJSON.status == 400)
        #expect(notJSON.text.contains("The body is not valid JSON"))
        let big = String(repeating: "x", count: 2001)
        let tooLarge = try await b.request(
            .POST, "/ui/try", form: [("source", "deploys"), ("headers", ""), ("body", big), ("csrf", csrf)])
        #expect(tooLarge.status == 413)
        #expect(tooLarge.text.contains("body larger than 2000 bytes"))
        let hook = try await h.postGitHub(body: Array(big.utf8))
        #expect(hook.status == 413)
        #expect(hook.text.contains("body larger than 2000 bytes"))
        // A form too large to read at all (more than three times the limit, plus headers) gets the same 413.
        let huge = try await b.request(
            .POST, "/ui/try",
            form: [("source", "deploys"), ("body", String(repeating: "x", count: 300_000)), ("csrf", csrf)])
        #expect(huge.status == 413)
        #expect(huge.text.contains("body larger than 2000 bytes"))
        #expect(try await h.bridge.store.deliveries(limit: 10, source: nil).isEmpty)

        // A stored delivery fills the form.
        #expect(try await h.postGitHub(body: deployBody(service: "stored-one")).status == 202)
        let id = try #require(try await h.bridge.store.deliveries(limit: 1, source: nil).first?.id)
        let again = try await b.get("/ui/try?delivery=\(id)")
        #expect(again.text.contains("stored-one"))
        #expect(again.text.contains("X-GitHub-Event: deployment_status"))
        await b.close()
        await h.finish()
    }

    @Test func theTimelineShowsTheEventsSentAndTheCostLineFromOneCachedRead() async throws {
        let h = try await Self.harness { c in c.environment["CLOUDTHREAD_COST_VIEW_ID"] = "view-7" }
        let now = Date()
        h.fake.state.withLock {
            var series: [String: Double] = [:]
            for d in 0..<8 {
                if let day = CostDay(containing: now.addingTimeInterval(-Double(d) * 86400)) {
                    series[day.compact] = 100 + Double(d)
                }
            }
            $0.costViews["view-7"] = series
        }
        try await h.start()
        let b = Browser(port: h.port)
        let at = Self.iso(now.addingTimeInterval(-3 * 3600))
        #expect(try await h.postGitHub(body: deployBody(service: "checkout", at: at)).status == 202)
        await h.eventually("the event is sent") { h.fake.events.count == 1 }
        _ = try await b.signIn()
        let page = try await b.get("/ui/timeline")
        #expect(page.status == 200)
        let text = page.text
        #expect(text.contains("aria-labelledby=\"timeline-title timeline-desc\""))
        #expect(text.contains("<text x=\"4\" y=\"27.0\" class=\"lane-name\">deploy</text>"))
        #expect(text.contains("<circle cx="))
        #expect(text.contains("class=\"mark sent\""))
        #expect(text.contains("<h2>deploy (1)</h2>"))
        #expect(text.contains("checkout to production: success"))
        #expect(text.contains("https://ci.example.com/run/1"))
        #expect(text.contains("1 event in the last 7 days, by type: 1 deploy."))
        #expect(text.contains("<polyline points=\""))
        #expect(text.contains("class=\"cost-line\""))
        #expect(text.contains("Daily cost of Cost View view-7"))
        #expect(text.contains("$100.00"))
        #expect(!text.contains("style="))
        #expect(h.fake.state.withLock { $0.costQueries.count } == 1)
        // Cached for 10 minutes: a second view reads nothing; another view or range reads once.
        _ = try await b.get("/ui/timeline")
        #expect(h.fake.state.withLock { $0.costQueries.count } == 1)
        let day = try await b.get("/ui/timeline?range=24h&view=view-unknown")
        #expect(h.fake.state.withLock { $0.costQueries.count } == 2)
        #expect(day.text.contains("could not be read"))
        #expect(day.text.contains("checkout to production: success"))
        await b.close()
        await h.finish()
    }

    @Test func aCostImpactFollowUpShowsItsBeforeAndAfterWindows() async throws {
        let rules = CostFollowUpTests.rules("view: \"${COST_VIEW_ID}\"")
        let h = try await Self.harness(rules: ["deploys.yaml": rules]) { c in c.environment["COST_VIEW_ID"] = "view-1" }
        try await h.start()
        let b = Browser(port: h.port)
        _ = try await CostFollowUpTests.deploy(h)
        await h.eventually("the deploy event is sent") { h.fake.events.count == 1 }
        _ = try await b.signIn()
        let page = try await b.get("/ui/timeline?range=24h")
        #expect(page.status == 200)
        let day = CostFollowUpTests.deployDay
        let before = "\(day.adding(-7)!.iso) to \(day.adding(-1)!.iso)"
        let after = "\(day.adding(1)!.iso) to \(day.adding(3)!.iso)"
        #expect(page.text.contains("<h2>cost impact follow-up (1)</h2>"))
        #expect(page.text.contains("Before window \(before), after window \(after)"))
        #expect(page.text.contains("<rect class=\"window before\""))
        #expect(page.text.contains("<title>after window \(after)</title>"))
        #expect(page.text.contains("<h2>deploy (1)</h2>"))
        // Without CLOUDTHREAD_COST_VIEW_ID or ?view= the page says how to get the cost line, and reads nothing.
        #expect(page.text.contains("Set CLOUDTHREAD_COST_VIEW_ID"))
        #expect(h.fake.state.withLock { $0.costQueries.isEmpty })
        await b.close()
        await h.finish()
    }

    @Test func theDeliveriesPageFiltersBackfilledDeliveries() async throws {
        let h = try await Self.harness()
        try await h.start()
        // Two stored as the backfill command stores them (keys starting with "backfill:"), one as a webhook.
        for key in ["backfill:github:41", "gh-delivery-7", "backfill:gitlab:9"] {
            var d = delivery(key: key)
            d.source = "deploys"
            _ = try await h.bridge.store.record(d)
        }
        let b = Browser(port: h.port)
        _ = try await b.signIn()
        let all = try await b.get("/ui/deliveries")
        #expect(all.text.contains("href=\"/ui/deliveries/1\""))
        #expect(all.text.contains("<option value=\"backfill\">backfill</option>"))
        let backfilled = try await b.get("/ui/deliveries?origin=backfill")
        #expect(backfilled.status == 200)
        #expect(backfilled.text.contains("href=\"/ui/deliveries/3\""))
        #expect(backfilled.text.contains("href=\"/ui/deliveries/1\""))
        #expect(!backfilled.text.contains("href=\"/ui/deliveries/2\""))
        #expect(backfilled.text.contains("deploys (backfill)"))
        #expect(backfilled.text.contains("<option value=\"backfill\" selected>"))
        let webhooks = try await b.get("/ui/deliveries?origin=webhook")
        #expect(webhooks.text.contains("href=\"/ui/deliveries/2\""))
        #expect(!webhooks.text.contains("href=\"/ui/deliveries/1\""))
        #expect(!webhooks.text.contains("(backfill)"))
        await b.close()
        await h.finish()
    }

    @Test func theNewPagesNeedASession() async throws {
        let h = try await Self.harness()
        try await h.start()
        let b = Browser(port: h.port)
        for path in ["/ui/try", "/ui/timeline", "/ui/timeline?range=30d"] {
            let page = try await b.get(path)
            #expect(page.status == 303, "\(path)")
            #expect(page.headers["Location"].first == "/ui/login", "\(path)")
        }
        let post = try await b.request(.POST, "/ui/try", form: [("source", "deploys"), ("body", "{}")])
        #expect(post.status == 303)
        await b.close()
        await h.finish()
    }
}
