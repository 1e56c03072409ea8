import Foundation

/// A directory of numbered images read as a video (mmaction2's "rawframes" layout:
/// `img_00001.jpg`, `img_00002.jpg`, …), through FFmpeg's image2 demuxer, so each frame
/// decodes exactly as `ffmpeg -framerate R -start_number N -i dir/img_%05d.jpg` would.
///
/// The frames are the largest group of files sharing a prefix, a number and an extension
/// (a folder holding `img_*` and optical-flow `flow_x_*` images reads as its `img_*` frames).
/// The numbers must run without a gap: a missing frame is an error, not a shorter video.
public struct FrameFolder: Sendable, Equatable {
    /// The folder as given.
    public let directory: String
    /// image2's pattern, e.g. `/data/v1/img_%05d.jpg`.
    public let pattern: String
    /// Number in the first frame's file name (e.g. 1 for img_00001.jpg): image2's start number.
    public let firstNumber: Int
    /// Frames in the run of consecutive numbers.
    public let count: Int

    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "ppm", "pgm"]

    /// Finds the numbered frames in `directory`. Throws `VideoError` when the folder cannot be listed,
    /// holds no numbered images, or its numbers have a gap, a repeat or mixed widths.
    public init(directory: String) throws {
        self.directory = directory
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw VideoError(path: directory, kind: .open, message: "cannot list the folder: \(error.localizedDescription)")
        }
        // Files by (prefix, extension): "img_00012.jpg" → ("img_", "jpg"), its digits "00012".
        struct Group: Hashable { let prefix: String, ext: String }
        var groups: [Group: [Substring]] = [:]
        for name in names where Self.isNumberedImage(name) {
            let dot = name.lastIndex(of: ".")!
            let stem = name[..<dot]
            let digits = stem.suffix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, digits.count <= 9 else { continue }
            groups[Group(prefix: String(stem.dropLast(digits.count)), ext: String(name[name.index(after: dot)...])), default: []].append(digits)
        }
        guard let (group, digits) = groups.max(by: { ($0.value.count, $1.key.prefix) < ($1.value.count, $0.key.prefix) }) else {
            throw VideoError(path: directory, kind: .noVideo, message: "no numbered images (e.g. img_00001.jpg) in this folder")
        }
        // Zero-padded numbers ("%05d") have one width; unpadded ones ("%d") any.
        let width = digits.first(where: { $0.count > 1 && $0.first == "0" })?.count ?? 0
        if width > 0, let odd = digits.first(where: { $0.count != width }) {
            throw VideoError(path: directory, kind: .decode,
                             message: "frame numbers of mixed widths (\(group.prefix)\(odd).\(group.ext) among \(width)-digit ones)")
        }
        let numbers = digits.map { Int($0)! }
        let sorted = numbers.sorted()
        let name = { (n: Int) in group.prefix + (width > 0 ? String(format: "%0\(width)d", n) : String(n)) + "." + group.ext }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b != a + 1 {
            throw VideoError(path: directory, kind: .decode,
                             message: b == a ? "frame \(a) appears twice" : "frame \(a + 1) is missing (\(name(a)) is followed by \(name(b)))")
        }
        // image2 expands "%" in the pattern: a literal one in the folder or prefix is "%%".
        let escaped = ((directory.hasSuffix("/") ? directory : directory + "/") + group.prefix).replacingOccurrences(of: "%", with: "%%")
        pattern = escaped + (width > 0 ? "%0\(width)d" : "%d") + "." + group.ext
        firstNumber = sorted[0]
        count = sorted.count
    }

    /// Whether a file name is a numbered image (`img_00001.jpg`, `12.png`): a frame of a folder.
    public static func isNumberedImage(_ name: String) -> Bool {
        guard !name.hasPrefix("."), let dot = name.lastIndex(of: "."),
              imageExtensions.contains(name[name.index(after: dot)...].lowercased()) else { return false }
        return name[..<dot].last.map { $0.isASCII && $0.isNumber } ?? false
    }

    /// Whether `path` is a directory (a frames folder, when it holds numbered images).
    public static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}

extension StringProtocol {
    /// The longest suffix whose characters all satisfy `predicate`.
    func suffix(while predicate: (Character) -> Bool) -> SubSequence {
        var start = endIndex
        while start > startIndex, predicate(self[index(before: start)]) { start = index(before: start) }
        return self[start...]
    }
}
