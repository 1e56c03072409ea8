import Foundation
import Testing

/// `-o` by one rule (NLTensor.OutputFile): `-` is standard output, a symlink or device is
/// written in place (never renamed over), a regular file is replaced whole. `decode -o
/// /dev/stdout` once replaced the /dev/stdout symlink with a regular file.
@Suite("Output files")
struct OutputFileTests {
    static let clip = ClassifyCommandTests.clips + "/testsrc2_320x240.mp4"
    static let args = ["decode", clip, "--frames", "0", "--size", "16x8"]

    @Test func dashIsStandardOutput() throws {
        // Binary bytes: counted by wc, not through a String.
        let script = "\"$0\" \"$@\" -o - | wc -c"
        let r = try CLI.run(["-c", script, CLI.binary.path] + Self.args, executable: URL(fileURLWithPath: "/bin/sh"))
        #expect(r.status == 0 && r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(16 * 8 * 3)", "\(r.stdout) bytes; \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "-"))
    }

    @Test func linksAndDevicesAreWrittenInPlace() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-output-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("target.rgb").path, link = dir.appendingPathComponent("link.rgb").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let r = try CLI.run(Self.args + ["-o", link])
        #expect(r.status == 0, "\(r.stderr)")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target, "the link is still a link")
        #expect((try Data(contentsOf: URL(fileURLWithPath: target))).count == 16 * 8 * 3, "written through the link")

        let null = try CLI.run(Self.args + ["-o", "/dev/null"])
        var st = stat()
        #expect(null.status == 0 && stat("/dev/null", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR, "/dev/null is still a device")

        let regular = dir.appendingPathComponent("plain.rgb").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: regular))
        #expect(try CLI.run(Self.args + ["-o", regular]).status == 0)
        #expect((try Data(contentsOf: URL(fileURLWithPath: regular))).count == 16 * 8 * 3)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")

        // A size that cannot be allocated is refused, not a trap (4294967297×2 once aborted).
        let huge = try CLI.run(["decode", Self.clip, "--frames", "0", "--size", "4294967297x2", "-o", regular])
        #expect(huge.status == 64 && huge.stderr.contains("--size"), "\(huge.status): \(huge.stderr)")

        let folder = try CLI.run(Self.args + ["-o", dir.path])
        #expect(folder.status != 0 && folder.stderr.contains("is a directory"), "\(folder.stderr)")
    }

    /// Numbers that once trapped (exit 132) are usage errors naming the option.
    @Test func absurdNumbersAreUsageErrors() throws {
        let preset = ClassifyCommandTests.root.appendingPathComponent("Configs/i3d_nonlocal_8x8_r50.yaml").path
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-synth-bad-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        for (args, option) in [(["info", "--config", preset, "--frames", "1000000000000"], "--frames"),
                               (["info", "--config", preset, "--size", "0"], "--size"),
                               (["synth", "--out", out, "--train=-1"], "--train"), (["synth", "--out", out, "--walkers=-1"], "--walkers"),
                               (["synth", "--out", out, "--size", "0"], "--size"), (["synth", "--out", out, "--frames", "0"], "--frames"),
                               (["synth", "--out", out, "--colours", "9"], "--colours")] {
            let r = try CLI.run(args)
            #expect(r.status == 64 && r.stderr.contains(option), "\(args): status \(r.status), \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: out + "/train.csv"), "nothing written")
    }
}

/// Options that were once accepted and then ignored, clamped or trapped.
@Suite("Usage errors")
struct UsageErrorTests {
    @Test func outOfRangeOptionsNameTheOption() throws {
        let clip = ClassifyCommandTests.clips + "/testsrc2_320x240.mp4"
        for (args, option) in [(["classify", clip, "--stride", "0"], "--stride"), (["classify", clip, "--frames", "0"], "--frames"),
                               (["classify", clip, "--size", "10"], "--size"), (["classify", clip, "--top", "0"], "--top"),
                               (["eval", "--data", clip, "--clips", "0"], "--clips"),
                               (["attention", clip, "--auto", "0", "-o", "/tmp/nlnet-unused"], "--auto")] {
            let r = try CLI.run(args)
            #expect(r.status == 64 && r.stderr.contains(option), "\(args): status \(r.status), \(r.stderr)")
        }
        // A query outside the clip is refused, not clamped onto its edge.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-at-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try CLI.run(["attention", ClassifyCommandTests.root.appendingPathComponent("Clips/synthetic/colours_match.mp4").path,
                             "--at", "99,-3,1000", "-o", out], environment: ["NLNET_MODEL": nil])
        #expect(r.status == 64 && r.stderr.contains("--at 99,-3,1000: outside the clip"), "\(r.stderr)")
    }
}
