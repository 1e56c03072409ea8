import Foundation
import NLTensor
import NLVideo
#if canImport(Glibc)
import Glibc
#endif

/// Turns what a user typed (files, directories, globs, @list files) into a list of video
/// paths in the order given (a directory's videos and a glob's matches sorted where they
/// stand), and splits it into shards.
public enum InputList {
    /// File name endings taken as video when walking a directory.
    public static let videoExtensions: Set<String> = ["mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts",
                                                      "m2ts", "flv", "wmv", "3gp", "ogv", "gif"]

    /// One input after expansion: a video path, or an argument that could not be expanded.
    public struct Entry: Equatable, Sendable {
        /// The video's path (or the argument as typed, when `error` is set).
        public var path: String
        /// Set when the argument itself could not be expanded (a missing path, an unreadable list).
        public var error: String?
    }

    /// Expands each argument: a directory (recursively: video files, and folders of numbered
    /// images, each of which is one video: mmaction2's rawframes layout), a glob pattern, an
    /// `@file` with one path per line (blank lines and # comments skipped), or a file path
    /// (kept as given, so a missing one is reported as that file's failure).
    public static func expand(_ arguments: [String]) -> [Entry] {
        var out: [Entry] = []
        for argument in arguments {
            if argument.hasPrefix("@") {
                let listPath = String(argument.dropFirst())
                guard let text = try? String(contentsOfFile: listPath, encoding: .utf8) else {
                    out.append(Entry(path: listPath, error: "cannot read the list file: \(DatasetLayouts.reason(listPath))"))
                    continue
                }
                let base = URL(fileURLWithPath: listPath).deletingLastPathComponent()
                for line in text.split(whereSeparator: \.isNewline) {
                    let item = line.trimmingCharacters(in: .whitespaces)
                    guard !item.isEmpty, !item.hasPrefix("#") else { continue }
                    out.append(Entry(path: item.hasPrefix("/") ? item : base.appendingPathComponent(item).path, error: nil))
                }
            } else if isDirectory(argument) {
                out += walk(argument).map { Entry(path: $0, error: nil) }
            } else if argument.contains(where: { "*?[".contains($0) }) && !FileManager.default.fileExists(atPath: argument) {
                let matches = glob(argument)
                if matches.isEmpty { out.append(Entry(path: argument, error: "no file matches the pattern")) }
                out += matches.map { Entry(path: $0, error: nil) }
            } else {
                out.append(Entry(path: argument, error: nil))
            }
        }
        return out
    }

    /// Shard `index` (1-based) of `count`: every count-th entry of the list, so n processes
    /// with the same list cover every input once.
    public static func shard<T>(_ items: [T], index: Int, count: Int) -> [T] {
        require(count >= 1 && index >= 1 && index <= count, "shard \(index)/\(count) is not k/n with 1 ≤ k ≤ n")
        return items.enumerated().filter { $0.offset % count == index - 1 }.map(\.element)
    }

    static func isDirectory(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
    }

    /// The videos under `directory`: video files, and frames folders (a folder holding numbered
    /// images is one video; it is not searched further). Linked folders are followed, each
    /// real folder once (a link back up the tree would otherwise walk forever).
    static func walk(_ directory: String) -> [String] {
        var visited = Set<String>()
        return walk(directory, visited: &visited).sorted()
    }

    private static func walk(_ directory: String, visited: inout Set<String>) -> [String] {
        let fm = FileManager.default
        guard visited.insert(URL(fileURLWithPath: directory).resolvingSymlinksInPath().path).inserted,
              let names = try? fm.contentsOfDirectory(atPath: directory) else { return [] }
        if names.contains(where: FrameFolder.isNumberedImage) { return [directory] }
        var found: [String] = []
        for name in names where !name.hasPrefix(".") {
            let path = (directory as NSString).appendingPathComponent(name)
            if isDirectory(path) {
                found += walk(path, visited: &visited)
            } else if videoExtensions.contains((name as NSString).pathExtension.lowercased()) {
                found.append(path)
            }
        }
        return found
    }

    static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }
}
