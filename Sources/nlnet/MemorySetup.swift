import Foundation

/// glibc serves blocks above its mmap threshold (at most 32 MiB) with a fresh mmap and returns
/// them to the kernel on free, so every clip tensor, decoded chunk and training activation of
/// that size was faulted in and zeroed by the kernel again on each use (~20% of decoding time
/// was in the kernel). The tool instead keeps freed memory in its heap for the next block of
/// the same size. NLNET_MALLOC=system keeps glibc's defaults (for comparison).
enum MemorySetup {
    // <malloc.h> is not in Swift's Glibc module; the values are glibc's M_TRIM_THRESHOLD and
    // M_MMAP_MAX.
    @_silgen_name("mallopt") private static func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
    private static let trimThreshold: Int32 = -1, mmapMax: Int32 = -4

    static func keepFreedMemory() {
        #if os(Linux)
        guard ProcessInfo.processInfo.environment["NLNET_MALLOC"] != "system" else { return }
        _ = mallopt(mmapMax, 0)                   // no per-block mmap: large blocks come from the heap
        _ = mallopt(trimThreshold, Int32.max)     // and stay there after free
        #endif
    }
}
