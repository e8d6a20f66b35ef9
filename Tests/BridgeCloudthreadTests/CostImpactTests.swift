import Foundation
import Testing

@testable import BridgeCloudthread
@testable import BridgeCore

@Suite("Cost impact comparison")
struct CostImpactTests {
    func at(_ text: String) -> Date { CostImpactTime.parseRFC3339(text)! }
    func day(_ y: Int, _ m: Int, _ d: Int) -> CostDay { CostDay(year: y, month: m, day: d)! }

    @Test func windowsAreWholeUTCDaysAroundTheDeployDay() throws {
        // Across the end of February in a leap year.
        let w = try CostWindows(
            deployAt: at("2024-02-28T23:30:00-02:00"), beforeDays: 7, afterDays: 3, settlingHours: 24)
        #expect(w.deployDay == day(2024, 2, 29))
        #expect(w.before.first == day(2024, 2, 22) && w.before.last == day(2024, 2, 28))
        #expect(w.after.first == day(2024, 3, 1) && w.after.last == day(2024, 3, 3))
        #expect(w.due == at("2024-03-05T00:00:00Z"))
        let y = try CostWindows(deployAt: at("2023-12-31T12:00:00Z"), beforeDays: 2, afterDays: 2, settlingHours: 0)
        #expect(y.after.last == day(2024, 1, 2))
    }

    @Test func theDeployDayAndMissingDaysAreLeftOut() throws {
        let spec = try CostImpactSpec(source: .costView("cv"), before: "7d", after: "3d")
        var values: [CostDay: Double] = [:]
        for d in 1...7 where d != 4 { values[day(2024, 5, d)] = 100 }
        values[day(2024, 5, 8)] = 10_000  // the deploy day
        for d in 9...11 { values[day(2024, 5, d)] = 110 }
        let r = try CostImpact.compare(
            series: CostSeries(values: values), spec: spec, deployAt: at("2024-05-08T14:00:00Z"))
        #expect(r.beforeDays.count == 6 && r.afterDays.count == 3)
        guard case .change(let c) = r.outcome else {
            Issue.record("expected a change, got \(r.outcome)")
            return
        }
        #expect(c.delta == 10 && c.percent == 10)
    }

    @Test func tooLittleDataAndSmallChangesAreSaidPlainly() throws {
        let spec = try CostImpactSpec(source: .costView("cv"), before: "7d", after: "3d", threshold: "15%")
        let sparse = CostSeries(values: [day(2024, 5, 7): 100, day(2024, 5, 9): 120, day(2024, 5, 10): 120])
        let r = try CostImpact.compare(series: sparse, spec: spec, deployAt: at("2024-05-08T14:00:00Z"))
        #expect(r.outcome == .notEnoughData(beforeDays: 1, afterDays: 2))
        var values: [CostDay: Double] = [:]
        for d in 1...7 { values[day(2024, 5, d)] = 100 }
        for d in 9...11 { values[day(2024, 5, d)] = 105 }
        let small = try CostImpact.compare(
            series: CostSeries(values: values), spec: spec, deployAt: at("2024-05-08T14:00:00Z"))
        #expect(small.outcome.name == "below_threshold")
    }

    @Test(arguments: ["0d", "1d", "7h", "-1d", "1e9d", "91d", "", "d", "7 d x", "99999999999999999999d"])
    func badDurationsAreRefused(text: String) {
        #expect(throws: CostImpactError.self) { try CostImpactParse.days(text) }
    }

    @Test(arguments: ["0%", "-5%", "abc", "1001%", "nan%", "inf%", "5"])
    func badThresholdsAreRefused(text: String) {
        #expect(throws: CostImpactError.self) { try CostImpactParse.percent(text) }
    }

    @Test func malformedAnswersAreRefusedNotTrapped() {
        for body in [
            "not json", "[]", #"{"data":{}}"#, #"{"data":[{"date":"20240230","current_timeframe_cost":1}]}"#,
            #"{"data":[{"date":"20240501","current_timeframe_cost":"1"}]}"#,
            #"{"data":[{"date":"20240501","current_timeframe_cost":1e400}]}"#,
            #"{"data":[{"date":"20240501","current_timeframe_cost":1},{"date":"20240501","current_timeframe_cost":2}]}"#,
        ] {
            #expect(throws: CostImpactError.self, "\(body)") {
                try CostSeriesDecoder.decode(Array(body.utf8), source: .costView("cv"))
            }
        }
    }
}
