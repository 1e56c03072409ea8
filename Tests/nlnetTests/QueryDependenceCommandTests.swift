import Foundation
import Testing

@Suite("nlnet attention --query-dependence")
struct QueryDependenceCommandTests {
    static let clip = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Clips/synthetic/colours_match.mp4").path

    /// One line per non-local block of the default model, each with its divergences in 0…1 bits.
    @Test func everyBlockOfTheDefaultModel() throws {
        let r = try CLI.run(["attention", Self.clip, "--query-dependence", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == 5 && lines.allSatisfy { $0 != nil }, "\(r.stdout)")
        for line in lines.compactMap({ $0 }) {
            let between = line["betweenQueries"] as? Double ?? -1, shuffled = line["shuffled"] as? Double ?? -1
            #expect((0...1).contains(between) && (0...1).contains(shuffled) && (line["block"] as? String ?? "").hasPrefix("res"), "\(line)")
        }
        let noOut = try CLI.run(["attention", Self.clip, "--auto", "1"])
        #expect(noOut.status == 64 && noOut.stderr.contains("--out"), "\(noOut.stderr)")
    }
}
