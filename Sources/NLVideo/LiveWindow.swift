import Foundation

/// The newest frames of a live source, as many as one clip spans, and the clip to classify
/// next: frames `stride` apart ending at the newest, due every `every` seconds of stream time.
///
/// A decoding thread pushes every frame; a classifying thread takes windows. Live (the
/// default), old frames fall out of the ring as new ones come, so a network slower than the
/// stream gets the latest window and skips the ones it had no time for: memory stays at one
/// span of frames and the lag does not grow. Paced (files), a push waits until the window it
/// completes has been taken, so every due window is classified, as fast as the network goes.
public final class LiveWindow: @unchecked Sendable {
    /// One clip handed to the classifying thread.
    public struct Window: Sendable {
        /// The clip's frames, `indices` being their numbers in the stream.
        public let frames: RGBFrames
        /// Stream time of the newest frame.
        public let seconds: Double
        /// When the newest frame came out of the decoder (DispatchTime nanoseconds).
        public let arrival: UInt64
    }

    /// Frames T per clip, video frames between them, stream seconds between windows, and whether pushes wait
    /// for the window they complete to be taken (files) instead of dropping old frames (live sources).
    public let frames: Int, stride: Int, every: Double, paced: Bool
    /// Frame size in pixels of every pushed frame (RGB24).
    public let width: Int, height: Int
    /// Frames one clip spans: (frames − 1) × stride + 1.
    public var span: Int { (frames - 1) * stride + 1 }

    private struct Slot { var index: Int; var seconds: Double; var arrival: UInt64; var rgb: [UInt8] }
    private var ring: [Slot?]
    private var newest = -1
    private var nextDue = -Double.infinity
    private var taken = 0
    private var ended = false
    private let condition = NSCondition()

    /// An empty ring for clips of `frames` at `stride`, due every `every` seconds; traps unless all are positive.
    public init(frames: Int, stride: Int, every: Double, width: Int, height: Int, paced: Bool) {
        precondition(frames >= 1 && stride >= 1 && every > 0)
        self.frames = frames
        self.stride = stride
        self.every = every
        self.width = width
        self.height = height
        self.paced = paced
        ring = Array(repeating: nil, count: (frames - 1) * stride + 1)
    }

    /// Windows handed out so far.
    public var windowsTaken: Int { condition.withLock { taken } }

    private var due: Bool {
        guard newest >= 0, let slot = ring[newest % ring.count] else { return false }
        return newest + 1 >= ring.count && slot.seconds >= nextDue
    }

    /// Adds the next frame (width × height RGB24) of the stream.
    public func push(rgb: [UInt8], seconds: Double, arrival: UInt64 = DispatchTime.now().uptimeNanoseconds) {
        condition.lock()
        defer { condition.unlock() }
        while paced && due && !ended { condition.wait() }
        newest += 1
        ring[newest % ring.count] = Slot(index: newest, seconds: seconds, arrival: arrival, rgb: rgb)
        condition.broadcast()
    }

    /// The stream ended (or was stopped): `next` returns what is still due, then nil.
    public func finish() {
        condition.withLock { ended = true; condition.broadcast() }
    }

    /// The next due window, waiting for it; nil once the stream has ended. A stream shorter
    /// than one span gives one window at its end, its first frames repeated (a clamped clip).
    public func next() -> Window? {
        condition.lock()
        defer { condition.unlock() }
        while !due && !ended { condition.wait() }
        let short = ended && taken == 0 && newest >= 0 && newest + 1 < ring.count
        guard due || short else { return nil }
        let indices = (0..<frames).map { max(newest - (frames - 1 - $0) * stride, 0) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(frames * width * height * 3)
        for i in indices { bytes += ring[i % ring.count]!.rgb }
        let last = ring[newest % ring.count]!
        nextDue = last.seconds + every
        taken += 1
        condition.broadcast()
        return Window(frames: RGBFrames(width: width, height: height, indices: indices, bytes: bytes), seconds: last.seconds, arrival: last.arrival)
    }
}
