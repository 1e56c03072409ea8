import Foundation
import NLTensor
import NLVideo

/// Which videos of a split file a list takes: HMDB51 marks each video train (1) or test (2).
public enum DatasetPart: String, Sendable, Codable { case train, test }

/// The dataset layouts users bring beside plain lists:
/// - a class-per-folder tree (`train/<class>/*.mp4`; a folder of numbered images is one video);
/// - HMDB51 split files (`<class>_test_split<k>.txt`, lines `video.avi 1|2|0`) in a folder;
/// - UCF101 split lists (`trainlist01.txt` / `testlist01.txt` with `classInd.txt` beside them);
/// - Kinetics annotation CSVs (`label,youtube_id,time_start,time_end,split`);
/// - mmaction2 rawframe lists (`frames_dir n_frames label`, one line each).
/// Videos of split files are looked for beside the list and in the usual sibling folders
/// (`UCF-101/`, `hmdb51/`, …); a missing one is reported by `VideoList.existing()`.
public enum DatasetLayouts {
    /// The list for `path` when it is one of the special layouts, nil for a plain list file.
    static func read(_ path: String, classes: [String]?, part: DatasetPart, split: Int) throws -> VideoList? {
        if FrameFolder.isDirectory(path) {
            return try hmdbSplits(path, classes: classes, part: part, split: split) ?? classFolders(path, classes: classes)
        }
        let name = (path as NSString).lastPathComponent.lowercased()
        if name.hasPrefix("trainlist") || name.hasPrefix("testlist") { return try ucfList(path, classes: classes) }
        if let head = firstLine(path), head.lowercased().replacingOccurrences(of: " ", with: "").hasPrefix("label,youtube_id,time_start,time_end") {
            return try kineticsCSV(path, classes: classes)
        }
        return nil
    }

    /// Why a list cannot be read (no such file, permission, a directory, not text).
    public static func reason(_ path: String) -> String { unreadableReason(path) ?? "not UTF-8 text" }

    /// `dir 300 5` (mmaction2 rawframes: folder, frame count, label) → [dir, 5].
    static func rawframeLine(_ line: String) -> [String]? {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 3, Int(parts[1]) != nil, Int(parts[2]) != nil else { return nil }
        return [String(parts[0]), String(parts[2])]
    }

    static func firstLine(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 512)) ?? Data()
        return String(decoding: head, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init)
    }

    // MARK: Class-per-folder

    /// `dir/<class>/…`: the classes are the subfolders (sorted, or `classes`), the videos
    /// everything `InputList` finds under each.
    static func classFolders(_ dir: String, classes known: [String]?) throws -> VideoList {
        let fm = FileManager.default
        let found = ((try? fm.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { !$0.hasPrefix(".") && FrameFolder.isDirectory((dir as NSString).appendingPathComponent($0)) }.sorted()
        let classes = known ?? found
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        var items: [VideoList.Item] = []
        for name in found {
            guard let label = index[name] else {
                throw VideoList.LineError(file: dir, line: 0,
                                          message: "folder '\(name)' is not one of the \(classes.count) classes "
                                              + "(\(classes.prefix(5).joined(separator: ", "))…)")
            }
            items += InputList.walk((dir as NSString).appendingPathComponent(name)).map { VideoList.Item(path: $0, label: label) }
        }
        guard !items.isEmpty else {
            throw VideoList.LineError(file: dir, line: 0, message: "no videos in class folders (expected \(dir)/<class>/<video>)")
        }
        return VideoList(items: items, classes: classes)
    }

    // MARK: HMDB51

    /// A folder of `<class>_test_split<k>.txt` files: lines `video.avi 1` (train), `2` (test),
    /// `0` (unused). nil when the folder holds no such files.
    static func hmdbSplits(_ dir: String, classes known: [String]?, part: DatasetPart, split: Int) throws -> VideoList? {
        let suffix = "_test_split\(split).txt"
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(suffix) }.sorted()
        guard !files.isEmpty else {
            let any = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).contains { $0.contains("_test_split") }
            if any { throw VideoList.LineError(file: dir, line: 0, message: "no HMDB51 split \(split) files (*\(suffix))") }
            return nil
        }
        let found = files.map { String($0.dropLast(suffix.count)) }
        let classes = known ?? found
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let wanted = part == .train ? "1" : "2"
        var rows: [(video: String, className: String, label: Int)] = []
        for (file, className) in zip(files, found) {
            guard let label = index[className] else {
                throw VideoList.LineError(file: dir + "/" + file, line: 0, message: "class '\(className)' is not one of the given classes")
            }
            let path = (dir as NSString).appendingPathComponent(file)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw VideoList.LineError(file: path, line: 0, message: "cannot read: \(reason(path))")
            }
            for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() {
                let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard parts.count == 2 else {
                    throw VideoList.LineError(file: path, line: n + 1, message: "expected 'video.avi 0|1|2', got '\(line)'")
                }
                if parts[1] == Substring(wanted) { rows.append((String(parts[0]), className, label)) }
            }
        }
        let parent = (dir as NSString).deletingLastPathComponent
        let root = videoRoot(candidates: [dir, parent] + ["hmdb51", "hmdb51_org", "HMDB51", "videos"].map { (parent as NSString).appendingPathComponent($0) },
                             probe: rows.first.map { "\($0.className)/\($0.video)" })
        let items = rows.map { VideoList.Item(path: (root as NSString).appendingPathComponent("\($0.className)/\($0.video)"), label: $0.label) }
        guard !items.isEmpty else { throw VideoList.LineError(file: dir, line: 0, message: "split \(split) marks no \(part.rawValue) videos") }
        return VideoList(items: items, classes: classes)
    }

    // MARK: UCF101

    /// `trainlist01.txt` (`Class/v_Class_g08_c01.avi 1`, 1-based class numbers) or
    /// `testlist01.txt` (`Class/v_Class_g01_c01.avi`), classes from `classInd.txt` beside it.
    static func ucfList(_ path: String, classes known: [String]?) throws -> VideoList {
        let folder = (path as NSString).deletingLastPathComponent
        let indexFile = (folder as NSString).appendingPathComponent("classInd.txt")
        guard let indexText = try? String(contentsOfFile: indexFile, encoding: .utf8) else {
            throw VideoList.LineError(file: indexFile, line: 0, message: "UCF101 lists need classInd.txt beside them: \(reason(indexFile))")
        }
        var fromIndex: [String] = []
        for (n, line) in indexText.split(whereSeparator: \.isNewline).enumerated() {
            let parts = line.split(separator: " ")
            guard parts.count == 2, Int(parts[0]) == fromIndex.count + 1 else {
                throw VideoList.LineError(file: indexFile, line: n + 1, message: "expected '\(fromIndex.count + 1) ClassName', got '\(line)'")
            }
            fromIndex.append(String(parts[1]))
        }
        let classes = known ?? fromIndex
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw VideoList.LineError(file: path, line: 0, message: "cannot read the list: \(reason(path))")
        }
        var rows: [(video: String, label: Int)] = []
        for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let parts = line.split(separator: " ")
            guard let video = parts.first, let className = video.split(separator: "/").first.map(String.init), let label = index[className] else {
                throw VideoList.LineError(file: path, line: n + 1, message: "expected 'Class/video.avi [n]' with a class of classInd.txt, got '\(line)'")
            }
            if parts.count > 1, fromIndex[safe: (Int(parts[1]) ?? 0) - 1] != className {
                throw VideoList.LineError(file: path, line: n + 1, message: "class number \(parts[1]) does not match folder '\(className)' in classInd.txt")
            }
            rows.append((String(video), label))
        }
        let parent = (folder as NSString).deletingLastPathComponent
        let root = videoRoot(candidates: [folder, parent] + ["UCF-101", "UCF101", "videos"].map { (parent as NSString).appendingPathComponent($0) },
                             probe: rows.first?.video)
        return VideoList(items: rows.map { VideoList.Item(path: (root as NSString).appendingPathComponent($0.video), label: $0.label) }, classes: classes)
    }

    // MARK: Kinetics

    /// `label,youtube_id,time_start,time_end,split[,is_cc]`: each row a clip of a YouTube video,
    /// found as the trimmed file `<id>_<start:06>_<end:06>.mp4` (the usual download layout) or
    /// as the full `<id>.mp4` cut to the time range; in the list's folder, `<split>/`,
    /// `<split>/<label>/` or `<label>/`.
    static func kineticsCSV(_ path: String, classes known: [String]?) throws -> VideoList {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw VideoList.LineError(file: path, line: 0, message: "cannot read the list: \(reason(path))")
        }
        let folder = (path as NSString).deletingLastPathComponent
        var rows: [(line: Int, label: String, id: String, start: Double, end: Double, split: String)] = []
        for (n, line) in text.split(whereSeparator: \.isNewline).enumerated().dropFirst() {
            let f = csvFields(String(line))
            guard f.count >= 5, let start = Double(f[2]), let end = Double(f[3]), start >= 0, end > start else {
                throw VideoList.LineError(file: path, line: n + 1, message: "expected 'label,youtube_id,time_start,time_end,split', got '\(line)'")
            }
            rows.append((n + 1, f[0], f[1], start, end, f[4]))
        }
        let classes = known ?? Array(Set(rows.map(\.label))).sorted()
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let extensions = ["mp4", "mkv", "webm", "avi"]
        let fm = FileManager.default
        let items: [VideoList.Item] = try rows.map { row in
            guard let label = index[row.label] else { throw VideoList.LineError(file: path, line: row.line, message: "unknown class '\(row.label)'") }
            let dirs = [folder, "\(folder)/\(row.split)", "\(folder)/\(row.split)/\(row.label)", "\(folder)/\(row.label)",
                        "\(folder)/\(row.split)/\(row.label.replacingOccurrences(of: " ", with: "_"))"]
            let trimmed = String(format: "%@_%06d_%06d", row.id, Int(row.start), Int(row.end))
            for dir in dirs { for ext in extensions where fm.fileExists(atPath: "\(dir)/\(trimmed).\(ext)") {
                return VideoList.Item(path: "\(dir)/\(trimmed).\(ext)", label: label)
            } }
            for dir in dirs { for ext in extensions where fm.fileExists(atPath: "\(dir)/\(row.id).\(ext)") {
                return VideoList.Item(path: "\(dir)/\(row.id).\(ext)", label: label, timeRange: row.start..<row.end)
            } }
            // Not found: reported by existing() under the trimmed name.
            return VideoList.Item(path: "\(folder)/\(trimmed).mp4", label: label)
        }
        guard !items.isEmpty else { throw VideoList.LineError(file: path, line: 0, message: "the list has no videos") }
        return VideoList(items: items, classes: classes)
    }

    /// Fields of one CSV line; "quoted, fields" keep their commas.
    static func csvFields(_ line: String) -> [String] {
        var fields: [String] = [], current = "", quoted = false
        var chars = line.makeIterator()
        while let c = chars.next() {
            if c == "\"" { quoted.toggle(); continue }
            if c == "," && !quoted { fields.append(current); current = ""; continue }
            current.append(c)
        }
        fields.append(current)
        return fields.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// The first candidate folder that holds `probe` (a list's first video), else the first.
    static func videoRoot(candidates: [String], probe: String?) -> String {
        guard let probe else { return candidates[0] }
        return candidates.first { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent(probe)) } ?? candidates[0]
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
