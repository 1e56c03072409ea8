import Foundation
import Testing

@Suite("nlnet info, forward")
struct ModelCommandTests {
    static let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Configs")

    @Test func versionIsPrinted() throws {
        let r = try CLI.run(["--version"])
        #expect(r.status == 0 && r.stdout.hasPrefix("nlnet 0."), "\(r.stdout)")
    }

    @Test func infoTotalsAndOverrides() throws {
        let preset = Self.configs.appendingPathComponent("i3d_nonlocal_8x8_r50.yaml").path
        let r = try CLI.run(["info", "--config", preset])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("total: 35.40M parameters, 36.24 GMACs"), "\(r.stdout.suffix(200))")
        #expect(r.stdout.contains("res4_nonlocal5"))
        let none = try CLI.run(["info", "--config", preset, "--nonlocal", "none"])
        #expect(none.stdout.contains("total: 28.04M parameters"))
        let custom = try CLI.run(["info", "--config", preset, "--nonlocal", "res3=0 res4=2", "--json"])
        let repeated = try CLI.run(["info", "--config", preset, "--nonlocal", "res3=0", "--nonlocal", "res4=2", "--json"])
        #expect(repeated.status == 0 && repeated.stdout == custom.stdout, "the quoted and the repeated forms agree: \(repeated.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(custom.stdout.utf8)) as? [String: Any])
        // The totals the table prints are in the JSON too.
        let layers = object["layers"] as? [[String: Any]] ?? []
        #expect(object["parameters"] as? Int == layers.compactMap { $0["parameters"] as? Int }.reduce(0, +) && (object["parameters"] as? Int ?? 0) > 0)
        #expect(object["macs"] as? Int == layers.compactMap { $0["macs"] as? Int }.reduce(0, +) && object["flops"] is Int)
        let names = (object["layers"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(names.filter { $0.contains("nonlocal") } == ["res3_nonlocal0", "res4_nonlocal2"])
    }

    @Test func badConfigGivesOneClearError() throws {
        let preset = Self.configs.appendingPathComponent("i3d_nonlocal_8x8_r50.yaml").path
        let r = try CLI.run(["info", "--config", preset, "--nonlocal", "res4=9"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("model.nonlocal.blocks.res4") && r.stderr.contains("past the end"), "\(r.stderr)")
        // Nothing chosen: the default model, as in every verb that builds a network.
        let none = try CLI.run(["info"], environment: ["NLNET_MODEL": nil])
        #expect(none.status == 0 && none.stdout.hasPrefix("nl_i3d_synthetic:"), "\(none.stderr)")
    }
}
