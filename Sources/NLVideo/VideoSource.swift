import CVideoShim
import Foundation

/// How to open a video beyond its path.
public struct VideoOpenOptions: Sendable, Equatable {
    /// The stream to decode; nil picks the one the ffmpeg CLI would (most pixels, with a bonus
    /// for the stream flagged default).
    public var stream: Int?
    /// Frames per second of a frames folder (its images carry no timing).
    public var folderFrameRate: Double
    /// Only the frames from `lowerBound` up to (not including) `upperBound` seconds after the
    /// first frame, renumbered from 0: a clip cut from a longer video (Kinetics annotations).
    /// Frame times are index ÷ frame rate.
    public var timeRange: Range<Double>?

    /// Options for opening a video: the default stream, 30 fps for frame folders, the whole video.
    public init(stream: Int? = nil, folderFrameRate: Double = 30, timeRange: Range<Double>? = nil) {
        self.stream = stream
        self.folderFrameRate = folderFrameRate
        self.timeRange = timeRange
    }
}

/// What a user names as a video, resolved to what FFmpeg opens:
/// - a file: opened as it is;
/// - a folder of numbered images: FFmpeg's image2 demuxer over its pattern (`FrameFolder`);
/// - `-` (standard input), a FIFO, or a byte-stream URL (http, https, tcp, udp, ftp): read in
///   order. To be indexed and sought (classify, decode, probe), its bytes are first copied to
///   an unlinked temporary file, so every frame is still exactly ffmpeg's;
/// - a live session (rtsp, rtmp, rtp, srt, sdp) or a camera (`/dev/video0`, via v4l2): only
///   read in order (`nlnet watch`), never indexed.
struct VideoSource {
    enum Access { case indexed, sequential }

    let path: String
    var url: String
    var format: String?
    var formatOptions: String?
    var sameSize = false
    /// The spooled copy the shim reads (kept open while the reader lives).
    var spool: SpoolFile?
    /// Plays at its own pace (stdin, a FIFO, a URL, a device), unlike a file or frames folder.
    var isLive = true

    static let liveSchemes: Set<String> = ["rtsp", "rtsps", "rtmp", "rtmps", "rtp", "srt", "sdp"]

    init(_ path: String, options: VideoOpenOptions, access: Access, timeout: Double) throws {
        self.path = path
        url = path
        if path == "-" {
            url = "pipe:0"
            if access == .indexed { spool = try SpoolFile.standardInput(timeout: timeout) }
        } else if let scheme = Self.scheme(of: path), scheme != "file" {
            if Self.liveSchemes.contains(scheme) {
                guard access == .sequential else { throw Self.liveOnly(path, "a live \(scheme) stream") }
            } else if access == .indexed {
                spool = try SpoolFile(path: path, url: path, timeout: timeout)
            }
        } else if FrameFolder.isDirectory(path) {
            let folder = try FrameFolder(directory: path)
            url = folder.pattern
            format = "image2"
            guard options.folderFrameRate.isFinite, options.folderFrameRate > 0, options.folderFrameRate <= 1000 else {
                throw VideoError(path: path, kind: .argument, message: "the frame rate must be in (0, 1000], got \(options.folderFrameRate)")
            }
            formatOptions = "framerate=\(options.folderFrameRate):start_number=\(folder.firstNumber):pattern_type=sequence"
            sameSize = true
            isLive = false
        } else {
            var st = stat()
            if stat(path, &st) == 0 {
                switch st.st_mode & S_IFMT {
                case S_IFCHR:
                    guard access == .sequential else { throw Self.liveOnly(path, "a device") }
                    if path.hasPrefix("/dev/video") { format = "v4l2" }
                case S_IFIFO:
                    if access == .indexed { spool = try SpoolFile(path: path, url: path, timeout: timeout) }
                default: isLive = false
                }
            }
        }
        if let spool { url = spool.url }
    }

    /// "rtsp" for "rtsp://host/x" (nil for a path).
    static func scheme(of path: String) -> String? {
        guard let range = path.range(of: "://") else { return nil }
        let scheme = path[..<range.lowerBound]
        return !scheme.isEmpty && scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }) ? scheme.lowercased() : nil
    }

    static func liveOnly(_ path: String, _ what: String) -> VideoError {
        VideoError(path: path, kind: .argument,
                   message: "\(what) has no end to index; classify it live with `nlnet watch \(path)`")
    }
}

/// A video opened in the shim, closed when the last reference goes: the handle, what the shim
/// found, and the source (whose spooled copy must outlive the handle).
final class OpenedVideo: @unchecked Sendable {
    let handle: OpaquePointer
    let info: VideoInfo
    let source: VideoSource

    init(path: String, options: VideoOpenOptions, threads: Int, timeout: Double, access: VideoSource.Access) throws {
        source = try VideoSource(path, options: options, access: access, timeout: timeout)
        var err = [CChar](repeating: 0, count: 512)
        var handle: OpaquePointer?
        let source = self.source
        let code: Int32 = source.url.withCString { url in
            (source.format ?? "").withCString { format in
                (source.formatOptions ?? "").withCString { formatOptions in
                    var o = nl_open_options(threads: Int32(threads), timeout_seconds: timeout, stream: Int32(options.stream ?? -1),
                                            format: source.format == nil ? nil : format,
                                            format_options: source.formatOptions == nil ? nil : formatOptions,
                                            sequential: access == .sequential ? 1 : 0, same_size: source.sameSize ? 1 : 0)
                    return nl_video_open(url, &o, &handle, &err, err.count)
                }
            }
        }
        guard code == 0, let handle else { throw VideoError(path: path, code: code, buffer: err) }
        self.handle = handle
        var raw = nl_video_info()
        nl_video_get_info(handle, &raw)
        info = VideoInfo(raw, path: path)
    }

    deinit { nl_video_close(handle) }
}

/// The bytes of a piped or downloaded video in an unlinked temporary file, read back by FFmpeg
/// through `/proc/self/fd/N` (the file vanishes with the process, whatever happens).
final class SpoolFile: @unchecked Sendable {
    let descriptor: Int32
    var url: String { "/proc/self/fd/\(descriptor)" }

    /// At most this much is copied: an endless live stream is refused, not stored until the disk fills.
    static let maxBytes: Int64 = 16 << 30

    init(path: String, url: String, timeout: Double) throws {
        let template = (NSTemporaryDirectory() as NSString).appendingPathComponent("nlnet-spool-XXXXXX")
        var name = Array(template.utf8CString)
        let fd = mkstemp(&name)
        guard fd >= 0 else {
            throw VideoError(path: path, kind: .open,
                             message: "cannot create a temporary file in \(NSTemporaryDirectory()): \(String(cString: strerror(errno)))")
        }
        unlink(name)
        var err = [CChar](repeating: 0, count: 512)
        var written: Int64 = 0
        let code = nl_spool(url, fd, timeout, Self.maxBytes, &written, &err, err.count)
        guard code == 0 else {
            close(fd)
            throw VideoError(path: path, code: code, buffer: err)
        }
        guard written > 0 else {
            close(fd)
            throw VideoError(path: path, kind: .open, message: "the input is empty")
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Standard input can be read once: the first reader's copy serves every later one.
    private final class StandardInputCopy: @unchecked Sendable {
        let lock = NSLock()
        var spool: SpoolFile?
    }
    private static let standardInputCopy = StandardInputCopy()

    static func standardInput(timeout: Double) throws -> SpoolFile {
        let copy = standardInputCopy
        copy.lock.lock()
        defer { copy.lock.unlock() }
        if let spool = copy.spool { return spool }
        let spool = try SpoolFile(path: "-", url: "pipe:0", timeout: timeout)
        copy.spool = spool
        return spool
    }
}
