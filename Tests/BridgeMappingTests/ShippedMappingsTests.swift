import Foundation
import Testing

@testable import BridgeMapping

/// The package root: the nearest folder above this file that holds Package.swift.
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path), url.path != "/" {
        url.deleteLastPathComponent()
    }
    return url.path
}()

@Suite("Shipped rule files and documented examples")
struct ShippedMappingsTests {
    @Test func everyShippedRuleFileLoadsWithoutErrorsAndPassesItsTests() throws {
        let result = RuleLoader(environment: [:]).load(path: packageRoot + "/mappings")
        let errors = result.diagnostics.filter { $0.severity == .error }
        #expect(errors.isEmpty, "\(errors.map(\.description).joined(separator: "\n"))")
        #expect(!result.sources.isEmpty)
        let runner = RuleTestRunner()
        var count = 0
        for source in result.sources {
            #expect(!source.tests.isEmpty, "\(source.file) has no tests")
            for r in runner.run(source) {
                count += 1
                #expect(r.passed, "\(r.file):\(r.line) \(r.name): \(r.failures.joined(separator: "; "))")
            }
        }
        #expect(count >= result.sources.count)
    }

    @Test func everyShippedSourceIsDisabledWithoutItsSecretAndEnabledWithIt() throws {
        let files = try RuleLoader.ruleFiles(at: packageRoot + "/mappings")
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let (bare, _) = RuleLoader(environment: [:]).load(file: file, text: text)
            let s = try #require(bare, "\(file)")
            if s.verifier?.scheme == .unverified { continue }
            #expect(s.disabledReason != nil, "\(file) must not be open without a secret")
            let name = s.name.uppercased().replacingOccurrences(of: "-", with: "_")
            let env = [
                "\(name)_WEBHOOK_SECRET": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "\(name)_WEBHOOK_USER": "user",
                // The aws-sns source has no secret: it is enabled by the topic it accepts.
                "AWS_SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:deploys",
                // The gcp-pubsub source has no secret: it is enabled by the audience and service accounts it accepts.
                "GCP_PUBSUB_AUDIENCE": "https://bridge.example.com/hooks/gcp-pubsub",
                "GCP_PUBSUB_SERVICE_ACCOUNTS": "pubsub-push@my-project.iam.gserviceaccount.com",
            ]
            let (configured, _) = RuleLoader(environment: env).load(file: file, text: text)
            #expect(configured?.disabledReason == nil, "\(file) should start with only \(name)_WEBHOOK_SECRET set")
        }
    }

    @Test func everyExampleInTheRulesGuideLoadsAndPassesItsTests() throws {
        let doc = try String(contentsOfFile: packageRoot + "/docs/rules.md", encoding: .utf8)
        var blocks: [String] = []
        var current: [String]?
        for line in doc.components(separatedBy: "\n") {
            if line == "```yaml" {
                current = []
            } else if line == "```", let c = current {
                blocks.append(c.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        #expect(blocks.count >= 10)
        let runner = RuleTestRunner()
        for (i, block) in blocks.enumerated() {
            let (source, diags) = RuleLoader(environment: [:]).load(file: "docs/rules.md#example-\(i + 1)", text: block)
            #expect(!diags.hasErrors, "example \(i + 1): \(diags)")
            guard let source else { continue }
            #expect(!source.tests.isEmpty, "example \(i + 1) has no tests")
            for r in runner.run(source) {
                #expect(r.passed, "example \(i + 1) (\(source.name)) \(r.name): \(r.failures.joined(separator: "; "))")
            }
        }
    }
}
