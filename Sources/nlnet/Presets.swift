import ArgumentParser
import Foundation
import NLModels

/// The model presets (Configs/*.yaml): found beside the project, or where `make install` put
/// them; `--config NAME` takes a preset by name.
enum Presets {
    static let folder = "Configs"

    /// The presets folder that `locate` finds (the working directory's Configs/ first).
    static var directory: String? { ProjectFiles.locate(folder) }

    /// Every preset file, sorted by name (subfolders such as ablations/ and bench/ are not presets).
    static func files() -> [String] {
        guard let dir = directory, let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { (dir as NSString).appendingPathComponent($0) }
    }

    static var names: [String] { files().map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent } }

    /// What --config names: a file as given, else a preset of that name (with or without .yaml).
    static func path(_ given: String) throws -> String {
        if FileManager.default.fileExists(atPath: given) || given.contains("/") {
            try requireReadable(given, option: "--config")
            return given
        }
        let name = given.hasSuffix(".yaml") ? String(given.dropLast(5)) : given
        if let found = ProjectFiles.locate("\(folder)/\(name).yaml") { return found }
        let hint = ConfigText.suggestion(for: name, among: names).map { "did you mean \($0)? " } ?? ""
        throw FileError("--config \(given): no such file, and no preset of that name (\(hint)`nlnet presets` lists them)")
    }

    /// One preset as listed: what it builds and what was published for it.
    struct Entry: Codable {
        var name: String
        var file: String
        var backbone: String
        var arch: String
        var depth: Int
        var width: Int
        /// The placement in --nonlocal's syntax ("res3=1,3 res4=1,3,5", or "none").
        var nonlocal: String
        var instantiation: String?
        var frames: Int
        var stride: Int
        var classes: Int
        /// The preset's checkpoint: line as written (nil when it has none).
        var checkpoint: String?
        var url: String?
        var top1: Double?
        var top5: Double?
        /// top-1/top-5 as published ("74.80/92.07").
        var accuracy: String?
        var error: String?
    }

    static func entry(_ file: String) -> Entry {
        let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        do {
            let config = try ModelConfig.load(path: file)
            let m = config.model
            let placement = m.nonlocal.blocks.filter { !$0.value.isEmpty }.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value.map(String.init).joined(separator: ","))" }.joined(separator: " ")
            let comments = (try? String(contentsOfFile: file, encoding: .utf8))?.split(whereSeparator: \.isNewline)
                .filter { $0.hasPrefix("#") }.joined(separator: "\n") ?? ""
            let published = config.checkpoint ?? ""
            let accuracy = firstAccuracy(in: published) ?? firstAccuracy(in: comments)
            return Entry(name: name, file: file, backbone: "\(m.arch.rawValue.uppercased()) R\(m.depth)" + (m.width == 64 ? "" : " width \(m.width)"),
                         arch: m.arch.rawValue, depth: m.depth, width: m.width,
                         nonlocal: placement.isEmpty ? "none" : placement,
                         instantiation: placement.isEmpty ? nil : m.nonlocal.instantiation.rawValue,
                         frames: config.input.frames, stride: config.input.stride, classes: m.classes,
                         checkpoint: config.checkpoint, url: url(in: published) ?? url(in: comments),
                         top1: accuracy.flatMap { Double($0.0) }, top5: accuracy.flatMap { Double($0.1) },
                         accuracy: accuracy.map { "\($0.0)/\($0.1)" })
        } catch {
            return Entry(name: name, file: file, backbone: "", arch: "", depth: 0, width: 0, nonlocal: "", frames: 0, stride: 0, classes: 0,
                         error: "\(error)")
        }
    }

    /// "(74.7/91.6)" → ("74.7", "91.6"), as written.
    static func firstAccuracy(in text: String) -> (String, String)? {
        guard let match = text.firstMatch(of: /\((\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)\)/) else { return nil }
        return (String(match.1), String(match.2))
    }

    /// The download address: a URL in the text, completed with the checkpoint's file name when
    /// it names a folder ("…/video-nonlocal/" + "i3d_nonlocal_8x8_IN_pretrain_400k.pkl").
    static func url(in text: String) -> String? {
        guard let match = text.firstMatch(of: /https?:\/\/[^\s;,)"]+/) else { return nil }
        var address = String(match.0)
        if address.hasSuffix("/"), let file = text.firstMatch(of: /[A-Za-z0-9_\-.]+\.(?:pkl|pyth|pth)/) {
            address += file.0
        }
        return address
    }
}

struct ListPresets: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "presets",
        abstract: "List the model presets: backbone, non-local blocks, clip, published accuracy and checkpoint.",
        discussion: """
        A preset is passed as --config NAME (or its file). Accuracy is the publisher's top-1/top-5 on Kinetics-400 validation; \
        convert the checkpoint with `nlnet convert FILE --config NAME -o m.safetensors` (README, "Official checkpoints"). \
        '—': not published.
        """)

    @Flag(help: "Print one JSON document instead of a table.")
    var json = false

    func run() throws {
        let files = Presets.files()
        guard !files.isEmpty else {
            throw ValidationError("no presets found: no Configs/ folder in the working directory, beside the project "
                                  + "or where `make install` puts it (PREFIX/share/nlnet)")
        }
        let entries = files.map(Presets.entry)
        if json { print(try jsonDocument(entries)); return }
        print("presets in \(Presets.directory ?? "?") (pass one as --config NAME); top-1/5: the publisher's, Kinetics-400 val")
        let rows = entries.map { e -> [String] in
            guard e.error == nil else { return [e.name, "unreadable: \(e.error!)"] }
            return [e.name, e.backbone, e.nonlocal, "\(e.frames)×\(e.stride)", e.accuracy ?? "—", e.url ?? "—"]
        }
        let header = ["preset", "backbone", "non-local", "clip", "top-1/5", "checkpoint"]
        let widths = header.indices.map { i in ([header] + rows).map { i < $0.count ? $0[i].count : 0 }.max()! + 2 }
        for row in [header] + rows {
            print(row.enumerated().map { i, cell in i == row.count - 1 ? cell : pad(cell, widths[i]) }.joined())
        }
    }
}

/// Pretty-printed JSON with sorted keys: the document form every --json verb prints.
func jsonDocument<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
