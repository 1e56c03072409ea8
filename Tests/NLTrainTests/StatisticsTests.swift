import Foundation
import NLTrain
import Testing

/// Mean, standard deviation, t quantiles, confidence intervals and Welch's test against scipy
/// (Tests/Fixtures/make_stats_fixtures.py → Tests/Fixtures/stats.json).
@Suite("Seed statistics match scipy")
struct StatisticsTests {
    /// The fixture's list under `key`; empty when the file is missing, which fixturesArePresent reports.
    static func cases(_ key: String) -> [[String: Any]] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/stats.json")
        let object = (try? Data(contentsOf: url)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        return object?[key] as? [[String: Any]] ?? []
    }

    /// |actual − expected| ≤ 1e-6 |expected| (an absolute 1e-12 where scipy's value is 0).
    static func close(_ actual: Double?, _ expected: Any?) -> Bool {
        guard let actual, let expected = (expected as? NSNumber)?.doubleValue else { return false }
        return abs(actual - expected) <= max(1e-6 * abs(expected), 1e-12)
    }

    @Test func fixturesArePresent() {
        // Guards the loops below, which pass vacuously over an empty list.
        #expect(Self.cases("quantiles").count >= 10 && Self.cases("samples").count >= 4 && Self.cases("welch").count >= 6)
    }

    @Test func tQuantilesEqualScipy() {
        for c in Self.cases("quantiles") {
            let p = (c["p"] as! NSNumber).doubleValue, df = (c["df"] as! NSNumber).doubleValue
            let t = Statistics.studentTQuantile(p, degreesOfFreedom: df)
            #expect(Self.close(t, c["t"]), "t.ppf(\(p), \(df)): \(t) vs \(c["t"]!)")
            // The CDF undoes the quantile.
            #expect(abs(Statistics.studentTCDF(t, degreesOfFreedom: df) - p) <= 1e-9)
        }
    }

    @Test func meanStdAndConfidenceIntervalEqualScipy() {
        for c in Self.cases("samples") {
            let x = (c["values"] as! [NSNumber]).map(\.doubleValue), name = c["name"] as! String
            #expect(Self.close(Statistics.mean(x), c["mean"]), "\(name): mean")
            #expect(Self.close(Statistics.standardDeviation(x), c["std"]), "\(name): std")
            let ci = Statistics.confidenceInterval95(x), expected = c["ci95"] as! [NSNumber]
            #expect(Self.close(ci?.lowerBound, expected[0]) && Self.close(ci?.upperBound, expected[1]), "\(name): CI \(String(describing: ci)) vs \(expected)")
        }
    }

    @Test func welchTestEqualsScipy() {
        for c in Self.cases("welch") {
            let a = (c["a"] as! [NSNumber]).map(\.doubleValue), b = (c["b"] as! [NSNumber]).map(\.doubleValue), name = c["name"] as! String
            let w = Statistics.welch(a, b)
            #expect(Self.close(w?.t, c["t"]), "\(name): t \(String(describing: w?.t)) vs \(c["t"]!)")
            #expect(Self.close(w?.degreesOfFreedom, c["df"]), "\(name): df \(String(describing: w?.degreesOfFreedom)) vs \(c["df"]!)")
            #expect(Self.close(w?.p, c["p"]), "\(name): p \(String(describing: w?.p)) vs \(c["p"]!)")
        }
    }

    @Test func oneSeedHasNoSpreadIntervalOrTest() {
        #expect(Statistics.mean([61.8]) == 61.8)
        #expect(Statistics.standardDeviation([61.8]) == nil)
        #expect(Statistics.confidenceInterval95([61.8]) == nil)
        #expect(Statistics.welch([61.8], [50, 52]) == nil && Statistics.welch([50, 52], [61.8]) == nil)
        #expect(Statistics.mean([]).isNaN)
    }

    /// scipy gives NaN here; the documented answer is p = 1 for equal means, 0 otherwise.
    @Test func twoConstantSamples() throws {
        let same = try #require(Statistics.welch([50, 50], [50, 50, 50]))
        #expect(same.p == 1 && same.t == 0 && same.degreesOfFreedom.isNaN)
        let apart = try #require(Statistics.welch([25, 25], [50, 50, 50]))
        #expect(apart.p == 0 && apart.t == -.infinity && apart.degreesOfFreedom.isNaN)
    }

    @Test func largeDegreesOfFreedomApproachTheNormal() {
        #expect(abs(Statistics.studentTQuantile(0.975, degreesOfFreedom: 1e6) - 1.959963985) < 1e-5)
        #expect(Statistics.studentTQuantile(0.5, degreesOfFreedom: 3) == 0)
    }
}
