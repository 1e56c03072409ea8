// libFuzzer target over the video shim: open + probe + decode of arbitrary bytes, under
// AddressSanitizer. Run with `make fuzz` (see README, "Fuzzing").
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../Sources/CVideoShim/include/video_shim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // The shim opens paths: hand it the bytes as an in-memory file.
    int fd = memfd_create("fuzz-video", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) { close(fd); return 0; }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    nl_video *v = NULL;
    char err[512];
    // Odd-sized inputs take the threaded paths (frame-threaded decoding, the scaler thread).
    int threads = 1 + (int)(size & 1);
    // Inputs with the low bit of their second byte set are read as a sequential source.
    int sequential = size > 1 && (data[1] & 1);
    nl_open_options options = {.threads = threads, .timeout_seconds = 5.0, .stream = -1, .sequential = sequential};
    if (nl_video_open(path, &options, &v, err, sizeof err) == NL_OK && sequential) {
        static uint8_t one[24 * 16 * 3];
        double t;
        for (int i = 0; i < 64 && nl_video_next(v, 24, 16, one, &t, err, sizeof err) == 1; i++) {}
        nl_video_close(v);
    } else if (v) {
        nl_video_info info;
        nl_video_get_info(v, &info);
        int64_t n = info.frame_count;
        int64_t idx[4] = {0, n / 3, n / 2, n - 1};
        static uint8_t rgb[4 * 24 * 16 * 3];
        nl_video_decode(v, idx, 4, 24, 16, rgb, err, sizeof err);
        int64_t back[2] = {0, n > 1 ? 1 : 0};  // seek back after reaching the end
        nl_video_decode(v, back, 2, 16, 24, rgb, err, sizeof err);
        nl_video_close(v);
    }
    close(fd);
    return 0;
}
