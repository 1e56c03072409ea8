// NonLocalNet's FFmpeg shim: open, probe, index and decode video frames by index into RGB24,
// or read a live or piped source frame after frame.
//
// The decode loop lives in C because FFmpeg's error macros (AVERROR_EOF, AVERROR(EAGAIN))
// do not import into Swift. Every function that can fail returns a negative code and fills
// `err` with "cause" text (FFmpeg's own message where there is one); callers prefix the path.
#ifndef NL_VIDEO_SHIM_H
#define NL_VIDEO_SHIM_H

#include <stddef.h>
#include <stdint.h>

typedef struct nl_video nl_video;

typedef struct {
    char container[64];      // demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    char codec[32];          // e.g. "h264"
    char pixel_format[32];   // e.g. "yuv420p10le"
    int width, height;       // coded frame size
    int rotation;            // display rotation, degrees clockwise: 0, 90, 180 or 270
    int sar_num, sar_den;    // sample aspect ratio (1:1 when unknown)
    double frame_rate;       // average frames per second (0 when unknown)
    double duration;         // seconds (0 when unknown)
    double start_time;       // seconds of the first frame's timestamp
    int64_t header_frames;   // frame count the container claims (0 when it says nothing)
    int64_t frame_count;     // frames actually present, counted from the packets
    int64_t keyframe_count;
    int stream_index;
    int video_streams;       // video streams in the file, cover art excluded
    int bit_depth;           // bits per component of the decoded pixels
    int full_range;          // 1 for full-range (JPEG) YUV
    int ordinal;             // 1: frames are numbered in decoder order (the timestamps could not identify them)
    int sequential;          // 1: opened for reading in order (no index; frame_count is 0)
} nl_video_info;

typedef struct {
    int threads;                 // decoder threads (0 = auto)
    double timeout_seconds;      // per open, decode or next call (0 = none)
    int stream;                  // stream index to decode; -1: the one the ffmpeg CLI picks
    const char *format;          // demuxer to use (NULL: probe the input), e.g. "image2"
    const char *format_options;  // demuxer options "key=value:key=value" (NULL: none)
    int sequential;              // 1: a source read once in order (pipe, network, camera)
    int same_size;               // 1: a frame of another size than the first is an error (frame folders)
} nl_open_options;

typedef struct {
    int64_t frames_decoded;  // frames the decoder produced (counts every decode, for "decoded once" checks)
    int64_t seeks;
    int64_t corrupt_packets; // packets the decoder rejected, skipped
    int64_t concealed;       // frames the decoder output with errors concealed (damaged data)
    int64_t substituted;     // requested frames that could not be decoded; a neighbour was used
    int64_t redecoded;       // frames decoded more than once (after a seek back)
} nl_video_stats;

enum {
    NL_OK = 0,
    NL_ERR_OPEN = -1,        // cannot open or not a media file
    NL_ERR_NO_VIDEO = -2,    // no video stream (audio-only, subtitles, only cover art)
    NL_ERR_CODEC = -3,       // no decoder or decoder failed to open
    NL_ERR_DECODE = -4,      // too few frames decodable
    NL_ERR_ARGUMENT = -5,    // bad index list or size
    NL_ERR_MEMORY = -6,
    NL_ERR_TIMEOUT = -7,     // a bounded operation ran out of time
    NL_ERR_TOO_LARGE = -8,   // dimensions or packet counts beyond the bounds
};

// Opens `path` (a file, a URL FFmpeg reads, "pipe:0", a device), picks the video stream, and
// decodes the first frame (so encoder-specific fix-ups such as old x264 builds' are in place
// before any seek). Unless sequential, it first counts the frames by reading every packet
// (no decoding; where packets lack timestamps, by decoding the stream once).
int nl_video_open(const char *path, const nl_open_options *options, nl_video **out, char *err, size_t errlen);

void nl_video_get_info(const nl_video *v, nl_video_info *info);
void nl_video_get_stats(const nl_video *v, nl_video_stats *stats);

// Decodes the frames with the given indices (0 ≤ index < frame_count, non-decreasing) and
// writes each as RGB24 of out_width × out_height (display orientation, after rotation),
// scaled with swscale's bilinear filter, to rgb + i·out_width·out_height·3. A repeated
// index is decoded once and copied. A frame that cannot be decoded is replaced by the
// nearest decoded one and counted in stats.substituted; more than half replaced is an error.
int nl_video_decode(nl_video *v, const int64_t *indices, int count, int out_width, int out_height,
                    uint8_t *rgb, char *err, size_t errlen);

// The next frame in stream order (for sequential sources; it also works on files), as RGB24 of
// out_width × out_height into rgb, and its time in seconds since the first frame. Returns 1
// with a frame, 0 at the end of the stream (or after nl_video_cancel), a negative code on
// failure (NL_ERR_TIMEOUT when the source gave nothing for timeout_seconds).
int nl_video_next(nl_video *v, int out_width, int out_height, uint8_t *rgb, double *seconds, char *err, size_t errlen);

// Makes a blocked read return (from another thread, e.g. on SIGINT): nl_video_next then ends.
void nl_video_cancel(nl_video *v);

void nl_video_close(nl_video *v);

// Copies the bytes of a byte-stream source FFmpeg reads ("pipe:0", http, tcp, udp, a FIFO) to
// the open file descriptor fd, to the end of the stream: so a piped or downloaded video can
// be indexed and sought like a file. The stream ends at EOF or, once data came, after
// idle_seconds without any; more than max_bytes (0: no bound) is an error.
int nl_spool(const char *url, int fd, double idle_seconds, int64_t max_bytes, int64_t *written, char *err, size_t errlen);

// Writes width × height RGB24 pixels (rows of width·3 bytes) as a PNG file, with
// libavcodec's PNG encoder.
int nl_write_png(const char *path, const uint8_t *rgb, int width, int height, char *err, size_t errlen);

// Writes `count` RGB24 frames of width × height as an animated GIF (libavcodec's GIF encoder
// via the gif muxer), each shown for `delay_ms`, looping.
int nl_write_gif(const char *path, const uint8_t *rgb, int count, int width, int height, int delay_ms,
                 char *err, size_t errlen);

// An encoder for generated clips: RGB24 frames in, H.264 (libx264, one thread, so the bytes
// are reproducible) or MPEG-4 part 2 when libx264 is missing, in the container the path's
// extension names.
typedef struct nl_video_writer nl_video_writer;
int nl_writer_open(const char *path, int width, int height, int fps, nl_video_writer **out, char *err, size_t errlen);
int nl_writer_add(nl_video_writer *w, const uint8_t *rgb, char *err, size_t errlen);
// Flushes, writes the trailer and frees the writer (also after an error).
int nl_writer_close(nl_video_writer *w, char *err, size_t errlen);

#endif
