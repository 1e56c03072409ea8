import Foundation
import NLVideo

/// A list of labelled videos, read from any of the layouts users bring (DatasetLayouts.swift):
/// `path label` or CSV `path,label` (label a class name or an index; a header line is
/// detected), mmaction2 rawframe lists `dir n_frames label`, Kinetics annotation CSVs, UCF101
/// and HMDB51 split files, and class-per-folder trees. Paths are relative to the list's folder.
public struct VideoList: Sendable {
    /// One labelled video (or a time range of one).
    public struct Item: Sendable, Equatable {
        /// The video file or frame folder, resolved against the list's folder.
        public var path: String
        /// The class index into `VideoList.classes`.
        public var label: Int
        /// Seconds of `path` this item covers (a Kinetics clip inside a full video), or all.
        public var timeRange: Range<Double>?

        /// An item from its fields.
        public init(path: String, label: Int, timeRange: Range<Double>? = nil) {
            self.path = path
            self.label = label
            self.timeRange = timeRange
        }

        /// How to open the item's video.
        public var openOptions: VideoOpenOptions { VideoOpenOptions(timeRange: timeRange) }
    }

    /// The videos, in the list's order.
    public var items: [Item]
    /// Class names by index: given, found in the list (sorted), or the folder names of a tree.
    public var classes: [String]

    /// A list file that cannot be read or parsed, with the line at fault.
    public struct LineError: Error, CustomStringConvertible {
        /// The list file, the 1-based line (0: the whole file) and what is wrong there.
        public let file: String, line: Int, message: String
        /// "file:line: message", or "file: message" for the whole file.
        public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
    }

    /// A list from items already made.
    public init(items: [Item], classes: [String]) {
        self.items = items
        self.classes = classes
    }

    /// Reads `path`: a list file in any of the formats above, or a folder (a class-per-folder
    /// tree, or HMDB51's split files; `part` says which of its videos). `classes` fixes the
    /// class names (a val list uses the train list's); without it, names found are collected in
    /// sorted order (indices are kept as given).
    public init(path: String, classes known: [String]? = nil, part: DatasetPart = .train, split: Int = 1) throws {
        if let layout = try DatasetLayouts.read(path, classes: known, part: part, split: split) {
            self = layout
            return
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw LineError(file: path, line: 0, message: "cannot read the list: \(DatasetLayouts.reason(path))")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        var rows: [(line: Int, path: String, label: String)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let fields: [String]
            if let rawframe = DatasetLayouts.rawframeLine(line) { fields = rawframe }
            else if line.contains(",") { fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }
            else {
                // `path label`: the label is the last field; a path may contain spaces.
                guard let space = line.lastIndex(where: { $0 == " " || $0 == "\t" }) else {
                    throw LineError(file: path, line: i + 1, message: "expected 'path label' or 'path,label', got '\(line)'")
                }
                fields = [String(line[..<space]).trimmingCharacters(in: .whitespaces), String(line[line.index(after: space)...])]
            }
            guard fields.count == 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw LineError(file: path, line: i + 1, message: "expected 'path label' or 'path,label', got '\(line)'")
            }
            if rows.isEmpty && ["path", "video", "file", "filename"].contains(fields[0].lowercased()) { continue }  // header
            let videoPath = fields[0].hasPrefix("/") ? fields[0] : base.appendingPathComponent(fields[0]).path
            rows.append((i + 1, videoPath, fields[1]))
        }
        let names = known ?? Array(Set(rows.map(\.label).filter { Int($0) == nil })).sorted()
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        let count = known?.count ?? max(names.count, (rows.compactMap { Int($0.label) }.max() ?? -1) + 1)
        items = try rows.map { row in
            if let i = Int(row.label) {
                guard i >= 0 && i < max(count, 1) else {
                    throw LineError(file: path, line: row.line, message: "label \(i) is not a class index (0…\(count - 1))")
                }
                return Item(path: row.path, label: i)
            }
            guard let i = index[row.label] else {
                throw LineError(file: path, line: row.line, message: "unknown class '\(row.label)'")
            }
            return Item(path: row.path, label: i)
        }
        classes = known ?? (names.isEmpty ? (0..<count).map { "class \($0)" } : names)
        guard !items.isEmpty else { throw LineError(file: path, line: 0, message: "the list has no videos") }
    }

    /// The items whose video exists, and the paths of those that do not (to be named in one
    /// summary, never dropped in silence).
    public func existing() -> (list: VideoList, missing: [String]) {
        var kept: [Item] = [], missing: [String] = []
        for item in items {
            if FileManager.default.fileExists(atPath: item.path) { kept.append(item) } else { missing.append(item.path) }
        }
        return (VideoList(items: kept, classes: classes), missing)
    }
}
