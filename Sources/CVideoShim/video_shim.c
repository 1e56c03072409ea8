// See include/video_shim.h. Frames are identified by presentation timestamp: opening reads
// every packet of the chosen stream once (demuxing only) to list the frames' timestamps in
// presentation order and the keyframes' decode timestamps. Frame i is the i-th smallest
// timestamp; decoding seeks to the keyframe before it and decodes forward until the frame
// with that timestamp comes out.
//
// Where the timestamps cannot identify frames (packets without a presentation timestamp, as
// MPEG-4 Part 2 with B-frames in AVI, or raw streams), frames are identified by their order
// out of the decoder instead ("ordinal mode"): opening decodes the stream once to count them,
// and reaching an earlier frame reopens the input and decodes forward from the start. A seek
// the demuxer cannot do (some old Matroska files) falls back the same way.
#include "video_shim.h"

#include "frame_scaler.h"
#include "shim_error.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavdevice/avdevice.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <libavutil/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

// Bounds on pathological files: no frame larger than 16384² or 2^28 pixels, no more
// than 2^24 frames indexed (over a week at 25 fps).
#define NL_MAX_SIDE 16384
#define NL_MAX_PIXELS (1LL << 28)
#define NL_MAX_FRAMES (1LL << 24)

typedef struct {
    int64_t pts;     // presentation timestamp (stream time base)
    int64_t dts;     // decode timestamp, for seeking
    int key;
} nl_packet_entry;

struct nl_video {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVStream *st;
    int stream;
    AVPacket *pkt;
    AVFrame *frame;
    nl_scaler *scaler;        // decoded frames → RGB24 (in the background when threads > 1)

    // What opened the input, to open it again (rewinding where seeking cannot be trusted).
    char *path;
    char *format;             // forced demuxer (NULL: probe)
    char *format_options;     // "key=value:key=value" for the demuxer (NULL: none)

    int64_t *pts;             // n_frames presentation timestamps, ascending (ordinal mode: 0, 1, 2, …)
    int64_t n_frames;
    uint8_t *seen;            // per frame: decoded before (for stats.redecoded)
    nl_packet_entry *keys;    // keyframes ascending by pts (ordinal mode: the start only)
    int64_t n_keys;

    int ordinal;              // frames are identified by decoder output order, not timestamps
    int sequential;           // a live or piped source: no index, no seeking
    int same_size;            // frames of another size than the first are refused
    int64_t produced;         // frames out of the decoder since the input was (re)opened
    int64_t first_pts;        // the first frame's timestamp (sequential mode: stream time 0)
    int pending;              // sequential mode: the frame in v->frame is not yet handed out

    int64_t last_pts;         // timestamp of the last frame the decoder produced (INT64_MIN: none)
    int64_t sent_dts;         // decode timestamp of the last packet given to the decoder (INT64_MIN: none)
    int draining;             // a flush packet was sent: the decoder must be reset before reuse
    int at_eof;

    double timeout;           // seconds allowed per open/decode call
    int64_t deadline;         // av_gettime_relative() deadline for the interrupt callback
    int cancelled;            // set by nl_video_cancel (another thread, atomically): reads end at once

    nl_video_info info;
    nl_video_stats stats;
};

static int interrupt_cb(void *opaque) {
    nl_video *v = opaque;
    return __atomic_load_n(&v->cancelled, __ATOMIC_RELAXED) || (v->deadline && av_gettime_relative() > v->deadline);
}

static void arm_deadline(nl_video *v) {
    v->deadline = v->timeout > 0 ? av_gettime_relative() + (int64_t)(v->timeout * 1e6) : 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_key(const void *a, const void *b) {
    return cmp_i64(&((const nl_packet_entry *)a)->pts, &((const nl_packet_entry *)b)->pts);
}

// The video stream the ffmpeg CLI would pick: the most pixels, plus a bonus of 5·10⁶ for the
// default disposition and of 10⁸ for a stream that had packets while probing (fftools'
// rule in FFmpeg 5.1; ties go to the first). Cover art (attached pictures) never plays.
static int pick_stream(AVFormatContext *fmt, int *video_streams) {
    int best = -1;
    int64_t best_score = -1;
    *video_streams = 0;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        AVStream *st = fmt->streams[i];
        if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) continue;
        if (st->disposition & AV_DISPOSITION_ATTACHED_PIC) continue;
        (*video_streams)++;
        int64_t score = (int64_t)st->codecpar->width * st->codecpar->height
                      + 100000000LL * !!(st->event_flags & AVSTREAM_EVENT_FLAG_NEW_PACKETS)
                      + 5000000LL * !!(st->disposition & AV_DISPOSITION_DEFAULT);
        if (score > best_score) { best = (int)i; best_score = score; }
    }
    return best;
}

// Cameras and other capture devices (v4l2) are demuxers of libavdevice, registered once.
static pthread_once_t devices_once = PTHREAD_ONCE_INIT;
static void register_devices(void) { avdevice_register_all(); }

// Opens (or reopens) the input named by v->path into v->fmt and reads its stream information.
static int open_input(nl_video *v, char *err, size_t errlen) {
    char buf[128];
    pthread_once(&devices_once, register_devices);
    v->fmt = avformat_alloc_context();
    if (!v->fmt) { nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
    v->fmt->interrupt_callback = (AVIOInterruptCB){interrupt_cb, v};
    const AVInputFormat *forced = NULL;
    if (v->format && !(forced = av_find_input_format(v->format))) {
        avformat_free_context(v->fmt);
        v->fmt = NULL;
        nl_set_error(err, errlen, "this FFmpeg has no '%s' demuxer", v->format);
        return NL_ERR_OPEN;
    }
    AVDictionary *options = NULL;
    if (v->format_options && av_dict_parse_string(&options, v->format_options, "=", ":", 0) < 0) {
        av_dict_free(&options);
        avformat_free_context(v->fmt);
        v->fmt = NULL;
        nl_set_error(err, errlen, "bad demuxer options '%s'", v->format_options);
        return NL_ERR_ARGUMENT;
    }
    int ret = avformat_open_input(&v->fmt, v->path, forced, &options);
    av_dict_free(&options);
    if (ret < 0) {
        v->fmt = NULL;  // freed by avformat_open_input on failure
        if (ret == AVERROR_EXIT) { nl_set_error(err, errlen, "timed out opening"); return NL_ERR_TIMEOUT; }
        nl_set_error(err, errlen, "cannot open: %s", ret == AVERROR_INVALIDDATA ? "not a recognised video or media file" : nl_av_message(ret, buf, sizeof buf));
        return NL_ERR_OPEN;
    }
    ret = avformat_find_stream_info(v->fmt, NULL);
    if (ret < 0) {
        if (ret == AVERROR_EXIT) { nl_set_error(err, errlen, "timed out reading stream information"); return NL_ERR_TIMEOUT; }
        nl_set_error(err, errlen, "cannot read stream information: %s", nl_av_message(ret, buf, sizeof buf));
        return NL_ERR_OPEN;
    }
    if (v->st) {  // a reopen: the same stream, the others still ignored
        if (v->stream >= (int)v->fmt->nb_streams) { nl_set_error(err, errlen, "the file changed while open"); return NL_ERR_OPEN; }
        v->st = v->fmt->streams[v->stream];
        for (unsigned i = 0; i < v->fmt->nb_streams; i++)
            if ((int)i != v->stream) v->fmt->streams[i]->discard = AVDISCARD_ALL;
    }
    return NL_OK;
}

// Starts decoding again from the very start: the input is closed and opened again, which
// every demuxer can do (seeking back is not exact in all of them).
static int reopen_at_start(nl_video *v) {
    avcodec_flush_buffers(v->dec);
    v->draining = 0;
    v->at_eof = 0;
    v->last_pts = INT64_MIN;
    v->sent_dts = INT64_MIN;
    v->produced = 0;
    v->stats.seeks++;
    avformat_close_input(&v->fmt);
    return open_input(v, NULL, 0);
}

static int rotation_of(AVStream *st) {
    size_t size = 0;
    const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (!m || size < 9 * sizeof(int32_t)) return 0;
    double ccw = av_display_rotation_get((const int32_t *)m);
    if (ccw != ccw) return 0;  // NaN: a degenerate matrix
    int clockwise = (int)((-ccw) + (-ccw < 0 ? -0.5 : 0.5));
    clockwise = ((clockwise % 360) + 360) % 360;
    // Only right angles are meaningful for video; round to the nearest.
    return ((clockwise + 45) / 90 % 4) * 90;
}

// Reads every packet of the stream, recording timestamps and keyframes. *untrusted counts
// the packets whose timestamps cannot identify a frame: no presentation timestamp (guessed
// from the decode timestamp), a decode timestamp going back (timestamps restarting part-way,
// as in some old Matroska files), or a presentation timestamp another packet has too.
static int build_index(nl_video *v, int64_t *untrusted, char *err, size_t errlen) {
    int64_t cap = 1024, kcap = 64, n = 0, nk = 0, synthetic = 0, last_dts = INT64_MIN;
    *untrusted = 0;
    int64_t *pts = malloc(cap * sizeof *pts);
    nl_packet_entry *keys = malloc(kcap * sizeof *keys);
    if (!pts || !keys) { free(pts); free(keys); nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
    char buf[128];
    int ret;
    while ((ret = av_read_frame(v->fmt, v->pkt)) >= 0) {
        if (v->pkt->stream_index == v->stream && !(v->pkt->flags & AV_PKT_FLAG_DISCARD)) {
            if (v->pkt->pts == AV_NOPTS_VALUE) (*untrusted)++;
            if (v->pkt->dts != AV_NOPTS_VALUE) {
                if (last_dts != INT64_MIN && v->pkt->dts < last_dts) (*untrusted)++;
                last_dts = v->pkt->dts;
            }
            int64_t p = v->pkt->pts != AV_NOPTS_VALUE ? v->pkt->pts : v->pkt->dts;
            int64_t d = v->pkt->dts != AV_NOPTS_VALUE ? v->pkt->dts : p;
            if (p == AV_NOPTS_VALUE) { p = synthetic; d = synthetic; }  // raw streams without timestamps
            synthetic++;
            if (n == NL_MAX_FRAMES) {
                av_packet_unref(v->pkt);
                free(pts); free(keys);
                nl_set_error(err, errlen, "more than %lld frames", (long long)NL_MAX_FRAMES);
                return NL_ERR_TOO_LARGE;
            }
            if (n == cap) {
                int64_t *grown = realloc(pts, (cap *= 2) * sizeof *pts);
                if (!grown) { av_packet_unref(v->pkt); free(pts); free(keys); nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
                pts = grown;
            }
            pts[n++] = p;
            if (v->pkt->flags & AV_PKT_FLAG_KEY) {
                if (nk == kcap) {
                    nl_packet_entry *grown = realloc(keys, (kcap *= 2) * sizeof *keys);
                    if (!grown) { av_packet_unref(v->pkt); free(pts); free(keys); nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
                    keys = grown;
                }
                keys[nk++] = (nl_packet_entry){p, d, 1};
            }
        }
        av_packet_unref(v->pkt);
    }
    if (ret != AVERROR_EOF && n == 0) {
        free(pts); free(keys);
        if (ret == AVERROR_EXIT) { nl_set_error(err, errlen, "timed out reading packets"); return NL_ERR_TIMEOUT; }
        nl_set_error(err, errlen, "cannot read packets: %s", nl_av_message(ret, buf, sizeof buf));
        return NL_ERR_DECODE;
    }
    if (n == 0) {
        free(pts); free(keys);
        nl_set_error(err, errlen, "the video stream has no frames");
        return NL_ERR_DECODE;
    }
    // A stream whose first packet is not flagged as a keyframe still starts there.
    if (nk == 0) keys[nk++] = (nl_packet_entry){pts[0], pts[0], 1};
    qsort(pts, n, sizeof *pts, cmp_i64);
    // Duplicate timestamps (broken muxers, or a trailing packet without a picture) make frames
    // indistinguishable: kept unique here, and the caller numbers frames in decoder order.
    for (int64_t i = 1; i < n; i++) if (pts[i] <= pts[i - 1]) { pts[i] = pts[i - 1] + 1; (*untrusted)++; }
    qsort(keys, nk, sizeof *keys, cmp_key);
    v->pts = pts; v->n_frames = n; v->keys = keys; v->n_keys = nk;
    v->seen = calloc(n, 1);
    return NL_OK;
}

// Seeks so that decoding restarts at keyframe `k` (or an earlier one). In ordinal mode, or
// when the demuxer cannot seek there, decoding restarts from the start of the file.
static int seek_to_key(nl_video *v, int64_t k) {
    if (v->ordinal) return reopen_at_start(v);
    avcodec_flush_buffers(v->dec);
    v->draining = 0;
    v->at_eof = 0;
    v->last_pts = INT64_MIN;
    v->sent_dts = INT64_MIN;
    v->stats.seeks++;
    int ret = av_seek_frame(v->fmt, v->stream, v->keys[k].dts, AVSEEK_FLAG_BACKWARD);
    if (ret < 0) ret = avformat_seek_file(v->fmt, v->stream, INT64_MIN, v->keys[k].dts, v->keys[k].dts, 0);
    if (ret < 0) ret = av_seek_frame(v->fmt, v->stream, v->keys[k].dts, AVSEEK_FLAG_BACKWARD | AVSEEK_FLAG_ANY);
    if (ret < 0) { v->stats.seeks--; ret = reopen_at_start(v); }
    return ret;
}

// Index position of timestamp t in v->pts, or -1 when no frame has it.
static int64_t frame_with_pts(const nl_video *v, int64_t t) {
    int64_t lo = 0, hi = v->n_frames - 1;
    while (lo < hi) { int64_t mid = (lo + hi) / 2; if (v->pts[mid] < t) lo = mid + 1; else hi = mid; }
    return v->n_frames > 0 && v->pts[lo] == t ? lo : -1;
}

// Produces the next decoded frame into v->frame. Returns 0, AVERROR_EOF at the end, or
// another negative code (timeout). Packets the decoder rejects are skipped and counted.
static int next_frame(nl_video *v) {
    for (;;) {
        int ret = avcodec_receive_frame(v->dec, v->frame);
        if (ret == 0) {
            int64_t t = v->frame->best_effort_timestamp;
            if (t == AV_NOPTS_VALUE) t = v->frame->pts;
            if (t == AV_NOPTS_VALUE) t = v->last_pts == INT64_MIN ? 0 : v->last_pts + 1;
            if (v->ordinal) t = v->produced;
            v->produced++;
            v->frame->pts = t;
            v->last_pts = t;
            v->stats.frames_decoded++;
            if ((v->frame->flags & AV_FRAME_FLAG_CORRUPT) || v->frame->decode_error_flags) v->stats.concealed++;
            // Which frame this is, to count frames decoded more than once.
            int64_t at = v->seen ? frame_with_pts(v, t) : -1;
            if (at >= 0) {
                if (v->seen[at]) v->stats.redecoded++;
                v->seen[at] = 1;
            }
            return 0;
        }
        if (ret == AVERROR_EOF) { v->at_eof = 1; return AVERROR_EOF; }
        if (ret != AVERROR(EAGAIN)) { v->stats.corrupt_packets++; }
        if (v->draining) { v->at_eof = 1; return AVERROR_EOF; }
        if (interrupt_cb(v)) return AVERROR_EXIT;
        ret = av_read_frame(v->fmt, v->pkt);
        if (ret < 0) {
            if (ret == AVERROR_EXIT) return ret;
            avcodec_send_packet(v->dec, NULL);  // end of file (or unreadable tail): drain
            v->draining = 1;
            continue;
        }
        if (v->pkt->stream_index == v->stream) {
            int64_t d = v->pkt->dts != AV_NOPTS_VALUE ? v->pkt->dts : v->pkt->pts;
            if (d != AV_NOPTS_VALUE) v->sent_dts = d;
            int s = avcodec_send_packet(v->dec, v->pkt);
            if (s < 0 && s != AVERROR(EAGAIN)) v->stats.corrupt_packets++;
        }
        av_packet_unref(v->pkt);
    }
}

// Index of the last keyframe with pts ≤ t (0 when none).
static int64_t key_before(const nl_video *v, int64_t t) {
    int64_t lo = 0, hi = v->n_keys - 1, best = 0;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (v->keys[mid].pts <= t) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return best;
}

// Lists the indices of the file's video streams (cover art excluded) into buf, "0, 2".
static void video_stream_list(AVFormatContext *fmt, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < fmt->nb_streams && used < n; i++) {
        AVStream *st = fmt->streams[i];
        if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO || (st->disposition & AV_DISPOSITION_ATTACHED_PIC)) continue;
        used += snprintf(buf + used, n - used, used ? ", %u" : "%u", i);
    }
}

// Ordinal mode: decodes the whole stream once to count the frames the decoder gives (which
// need not be the packet count: MPEG-4 Part 2 skips uncoded VOPs), numbers them 0, 1, 2, …
// and leaves the input reopened at the start.
static int enter_ordinal_mode(nl_video *v, char *err, size_t errlen) {
    v->ordinal = 1;
    int ret = reopen_at_start(v);
    if (ret < 0) { nl_set_error(err, errlen, "cannot reopen the file to count its frames"); return NL_ERR_OPEN; }
    while ((ret = next_frame(v)) == 0) {
        if (v->produced > NL_MAX_FRAMES) { nl_set_error(err, errlen, "more than %lld frames", (long long)NL_MAX_FRAMES); return NL_ERR_TOO_LARGE; }
    }
    if (ret == AVERROR_EXIT) { nl_set_error(err, errlen, "timed out counting frames"); return NL_ERR_TIMEOUT; }
    int64_t n = v->produced;
    if (n == 0) { nl_set_error(err, errlen, "no frame could be decoded"); return NL_ERR_DECODE; }
    int64_t *pts = realloc(v->pts, n * sizeof *pts);
    uint8_t *seen = calloc(n, 1);
    if (!pts || !seen) { free(seen); if (pts) v->pts = pts; nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
    for (int64_t i = 0; i < n; i++) pts[i] = i;
    v->pts = pts;
    free(v->seen);
    v->seen = seen;
    v->n_frames = n;
    v->keys[0] = (nl_packet_entry){0, v->keys[0].dts, 1};
    v->n_keys = 1;
    ret = reopen_at_start(v);
    if (ret < 0) { nl_set_error(err, errlen, "cannot reopen the file"); return NL_ERR_OPEN; }
    return NL_OK;
}

int nl_video_open(const char *path, const nl_open_options *opt, nl_video **out, char *err, size_t errlen) {
    *out = NULL;
    // FFmpeg's own log lines would interleave with the tool's output; errors reach the
    // caller as messages instead. NLNET_FFMPEG_LOG=1 brings them back for debugging.
    const char *log = getenv("NLNET_FFMPEG_LOG");
    av_log_set_level(log && *log && strcmp(log, "0") ? AV_LOG_WARNING : AV_LOG_QUIET);
    char buf[128];
    nl_video *v = calloc(1, sizeof *v);
    if (!v) { nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
    v->last_pts = INT64_MIN;
    v->sent_dts = INT64_MIN;
    v->timeout = opt->timeout_seconds;
    v->sequential = opt->sequential;
    v->same_size = opt->same_size;
    v->path = strdup(path);
    v->format = opt->format ? strdup(opt->format) : NULL;
    v->format_options = opt->format_options ? strdup(opt->format_options) : NULL;
    v->pkt = av_packet_alloc();
    v->frame = av_frame_alloc();
    if (!v->path || (opt->format && !v->format) || (opt->format_options && !v->format_options) || !v->pkt || !v->frame) {
        nl_set_error(err, errlen, "out of memory"); nl_video_close(v); return NL_ERR_MEMORY;
    }
    arm_deadline(v);
    int ret = open_input(v, err, errlen);
    if (ret < 0) { nl_video_close(v); return ret; }
    int video_streams = 0;
    v->stream = pick_stream(v->fmt, &video_streams);
    if (v->stream < 0) {
        int has_art = 0;
        for (unsigned i = 0; i < v->fmt->nb_streams; i++)
            if (v->fmt->streams[i]->disposition & AV_DISPOSITION_ATTACHED_PIC) has_art = 1;
        nl_set_error(err, errlen, has_art ? "no video stream (only cover art)" : "no video stream");
        nl_video_close(v);
        return NL_ERR_NO_VIDEO;
    }
    if (opt->stream >= 0) {
        AVStream *chosen = opt->stream < (int)v->fmt->nb_streams ? v->fmt->streams[opt->stream] : NULL;
        if (!chosen || chosen->codecpar->codec_type != AVMEDIA_TYPE_VIDEO || (chosen->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
            char list[96];
            video_stream_list(v->fmt, list, sizeof list);
            nl_set_error(err, errlen, "stream %d is not a video stream (the file has %u stream(s); video: %s)",
                         opt->stream, v->fmt->nb_streams, list);
            nl_video_close(v);
            return NL_ERR_ARGUMENT;
        }
        v->stream = opt->stream;
    }
    v->st = v->fmt->streams[v->stream];
    AVCodecParameters *par = v->st->codecpar;
    if (par->width <= 0 || par->height <= 0 || par->width > NL_MAX_SIDE || par->height > NL_MAX_SIDE ||
        (int64_t)par->width * par->height > NL_MAX_PIXELS) {
        nl_set_error(err, errlen, "unsupported frame size %dx%d", par->width, par->height);
        nl_video_close(v);
        return NL_ERR_TOO_LARGE;
    }
    for (unsigned i = 0; i < v->fmt->nb_streams; i++)
        if ((int)i != v->stream) v->fmt->streams[i]->discard = AVDISCARD_ALL;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec) {
        nl_set_error(err, errlen, "no decoder for codec '%s'", avcodec_get_name(par->codec_id));
        nl_video_close(v);
        return NL_ERR_CODEC;
    }
    v->dec = avcodec_alloc_context3(codec);
    if (!v->dec || avcodec_parameters_to_context(v->dec, par) < 0) {
        nl_set_error(err, errlen, "cannot set up the %s decoder", codec->name);
        nl_video_close(v);
        return NL_ERR_CODEC;
    }
    v->dec->thread_count = opt->threads > 0 ? opt->threads : 0;
    v->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    v->dec->pkt_timebase = v->st->time_base;
    // Check what the format allows checking, so damage is noticed (stats.concealed).
    v->dec->err_recognition |= AV_EF_CRCCHECK;
    if ((ret = avcodec_open2(v->dec, codec, NULL)) < 0) {
        nl_set_error(err, errlen, "cannot open the %s decoder: %s", codec->name, nl_av_message(ret, buf, sizeof buf));
        nl_video_close(v);
        return NL_ERR_CODEC;
    }
    int64_t keyframes = 0, first_packet_pts = 0;
    if (!v->sequential) {
        int64_t untrusted = 0;
        if ((ret = build_index(v, &untrusted, err, errlen)) < 0) { nl_video_close(v); return ret; }
        keyframes = v->n_keys;
        first_packet_pts = v->pts[0];
        // Back to the start, and decode the first frame: the decoder then knows the encoder
        // (e.g. old x264 builds, whose fix-up FFmpeg applies only after reading a packet).
        ret = av_seek_frame(v->fmt, v->stream, v->keys[0].dts, AVSEEK_FLAG_BACKWARD);
        avformat_flush(v->fmt);
        if (ret >= 0) ret = next_frame(v);
        // A demuxer that could not seek back, or sought elsewhere (some old Matroska files
        // without usable cues): open the file again instead.
        if (ret < 0 || v->frame->pts != v->pts[0]) {
            if (reopen_at_start(v) < 0) { nl_video_close(v); nl_set_error(err, errlen, "cannot reopen the file"); return NL_ERR_OPEN; }
            ret = next_frame(v);
        }
        // Timestamps that were guessed, went back or repeat, or a first frame whose timestamp no
        // packet had, cannot identify frames: number them in decoder order instead.
        if (untrusted > 0 || (ret == 0 && frame_with_pts(v, v->frame->pts) < 0)) {
            long long rejected = (long long)v->stats.corrupt_packets;
            if ((ret = enter_ordinal_mode(v, err, errlen)) < 0) {
                if (ret == NL_ERR_DECODE) nl_set_error(err, errlen, "no frame could be decoded (%lld packets rejected by the %s decoder)", rejected, codec->name);
                nl_video_close(v);
                return ret;
            }
            ret = next_frame(v);
        }
    } else {
        ret = next_frame(v);  // the first frame, for the pixel format and size
    }
    if (ret < 0) {
        long long rejected = (long long)v->stats.corrupt_packets;
        nl_video_close(v);
        if (ret == AVERROR_EXIT) { nl_set_error(err, errlen, "timed out decoding the first frame"); return NL_ERR_TIMEOUT; }
        nl_set_error(err, errlen, "no frame could be decoded (%lld packets rejected by the %s decoder)", rejected, codec->name);
        return NL_ERR_DECODE;
    }
    // Counters start now: what opening decoded (the first frame, a count in ordinal mode) is
    // not the callers' decoding.
    v->stats = (nl_video_stats){.frames_decoded = 1};
    if (v->seen) { memset(v->seen, 0, v->n_frames); v->seen[0] = 1; }

    nl_video_info *info = &v->info;
    snprintf(info->container, sizeof info->container, "%s", v->fmt->iformat->name);
    snprintf(info->codec, sizeof info->codec, "%s", codec->name);
    const char *pf = av_get_pix_fmt_name(v->frame->format);
    snprintf(info->pixel_format, sizeof info->pixel_format, "%s", pf ? pf : "unknown");
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(v->frame->format);
    info->bit_depth = desc ? desc->comp[0].depth : 8;
    info->full_range = v->frame->color_range == AVCOL_RANGE_JPEG || (pf && strncmp(pf, "yuvj", 4) == 0);
    info->width = v->frame->width;
    info->height = v->frame->height;
    info->rotation = rotation_of(v->st);
    v->scaler = nl_scaler_create(info->rotation, opt->threads > 0 ? opt->threads : 0);
    if (!v->scaler) { nl_video_close(v); nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
    AVRational sar = av_guess_sample_aspect_ratio(v->fmt, v->st, v->frame);
    info->sar_num = sar.num > 0 && sar.den > 0 ? sar.num : 1;
    info->sar_den = sar.num > 0 && sar.den > 0 ? sar.den : 1;
    AVRational fr = v->st->avg_frame_rate.num > 0 ? v->st->avg_frame_rate : v->st->r_frame_rate;
    info->frame_rate = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0;
    double tb = av_q2d(v->st->time_base);
    if (v->st->duration != AV_NOPTS_VALUE && v->st->duration > 0) info->duration = v->st->duration * tb;
    else if (v->fmt->duration > 0) info->duration = v->fmt->duration / (double)AV_TIME_BASE;
    else if (!v->sequential && v->n_frames > 0) {
        // No duration in the header (e.g. Matroska written to a pipe): from the frames found.
        if (v->ordinal) info->duration = info->frame_rate > 0 ? v->n_frames / info->frame_rate : 0;
        else info->duration = (v->pts[v->n_frames - 1] - v->pts[0]) * tb + (info->frame_rate > 0 ? 1 / info->frame_rate : 0);
    }
    v->first_pts = v->frame->pts;
    info->start_time = !v->sequential ? first_packet_pts * tb
                     : v->frame->best_effort_timestamp != AV_NOPTS_VALUE ? v->frame->best_effort_timestamp * tb : 0;
    info->header_frames = v->st->nb_frames;
    info->frame_count = v->n_frames;
    info->keyframe_count = keyframes;
    info->ordinal = v->ordinal;
    info->sequential = v->sequential;
    v->pending = v->sequential;
    info->stream_index = v->stream;
    info->video_streams = video_streams;
    *out = v;
    return NL_OK;
}

void nl_video_get_info(const nl_video *v, nl_video_info *info) { *info = v->info; }
void nl_video_get_stats(const nl_video *v, nl_video_stats *stats) { *stats = v->stats; }

// Frame folders must hold one size: images of mixed sizes are a mistake, not a video.
static int check_size(const nl_video *v, int64_t index, char *err, size_t errlen) {
    if (!v->same_size || (v->frame->width == v->info.width && v->frame->height == v->info.height)) return NL_OK;
    nl_set_error(err, errlen, "frame %lld is %dx%d, the first frame is %dx%d (all frames must have one size)",
                 (long long)index, v->frame->width, v->frame->height, v->info.width, v->info.height);
    return NL_ERR_DECODE;
}

int nl_video_decode(nl_video *v, const int64_t *indices, int count, int out_w, int out_h,
                    uint8_t *rgb, char *err, size_t errlen) {
    if (count <= 0) return NL_OK;
    if (out_w <= 0 || out_h <= 0 || out_w > NL_MAX_SIDE || out_h > NL_MAX_SIDE || (int64_t)out_w * out_h > NL_MAX_PIXELS) {
        nl_set_error(err, errlen, "bad output size %dx%d", out_w, out_h);
        return NL_ERR_ARGUMENT;
    }
    for (int i = 0; i < count; i++) {
        if (indices[i] < 0 || indices[i] >= v->n_frames || (i > 0 && indices[i] < indices[i - 1])) {
            nl_set_error(err, errlen, "frame index %lld at position %d is out of order or outside 0..<%lld",
                    (long long)indices[i], i, (long long)v->n_frames);
            return NL_ERR_ARGUMENT;
        }
    }
    arm_deadline(v);
    size_t frame_bytes = (size_t)out_w * out_h * 3;
    // Outputs not scaled from a decoded frame (a repeated index, or a frame that could not be
    // decoded) copy their neighbour once the scaler has written everything.
    uint8_t *decoded = calloc(count, 1);
    if (!decoded) { nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
    int first_decoded = -1, r = NL_OK, restarted = 0;
    int64_t substituted = 0;
    for (int i = 0; i < count && r == NL_OK; i++) {
        if (i > 0 && indices[i] == indices[i - 1]) continue;
        int64_t want = v->pts[indices[i]];
        // The frame may be the one already in hand (e.g. the first frame after open).
        int found = v->last_pts == want && v->frame->pts == want;
        int64_t k0 = key_before(v, want), tried = -1;
        for (int attempt = 0; !found && r == NL_OK && attempt < 4; attempt++) {
            if (attempt == 3) {
                // The last resort, once per call: decode forward from the very start (a demuxer
                // whose seeks land elsewhere than asked).
                if (restarted || v->ordinal || reopen_at_start(v) < 0) break;
                restarted = 1;
            } else {
                // Attempt 0 continues forward when that is cheaper than seeking; a retry starts one
                // keyframe further back (the leading frames of an open GOP need the previous one).
                int64_t k = k0 - attempt < 0 ? 0 : k0 - attempt;
                if (attempt > 0 && k == tried) { attempt = 2; continue; }
                int behind = v->last_pts == INT64_MIN || v->last_pts >= want || v->at_eof;
                // Seeking ahead pays only when the keyframe has not been read yet; once its packet
                // is in the decoder, a seek would decode the frames in flight a second time.
                int skip = v->last_pts != INT64_MIN && v->keys[k].pts > v->last_pts &&
                           (v->sent_dts == INT64_MIN || v->keys[k].dts > v->sent_dts);
                if (behind || skip || attempt > 0) {
                    seek_to_key(v, k);
                    tried = k;
                }
            }
            for (;;) {
                int ret = next_frame(v);
                if (ret == AVERROR_EXIT) {
                    nl_set_error(err, errlen, "timed out decoding frame %lld", (long long)indices[i]);
                    r = NL_ERR_TIMEOUT;
                    break;
                }
                if (ret < 0) break;
                if (v->frame->pts == want) { found = 1; break; }
                if (v->frame->pts > want) break;
            }
        }
        if (found && (r = check_size(v, indices[i], err, errlen)) < 0) break;
        if (found) {
            r = nl_scaler_submit(v->scaler, v->frame, out_w, out_h, rgb + (size_t)i * frame_bytes, err, errlen);
            decoded[i] = 1;
            if (first_decoded < 0) first_decoded = i;
        } else if (r == NL_OK) {
            substituted++;
        }
    }
    // Nothing may still be writing into `rgb` when this returns, whatever happened above.
    int finished = nl_scaler_finish(v->scaler, r == NL_OK ? err : NULL, errlen);
    if (r == NL_OK) r = finished;
    if (r == NL_OK) {
        v->stats.substituted += substituted;
        if (first_decoded < 0 || substituted * 2 > count) {
            nl_set_error(err, errlen, "%lld of %d requested frames could not be decoded (%lld corrupt packets skipped)",
                    (long long)substituted, count, (long long)v->stats.corrupt_packets);
            r = NL_ERR_DECODE;
        } else {
            // Leading outputs take the first decoded picture, later ones the previous output.
            for (int i = 0; i < count; i++) {
                if (decoded[i]) continue;
                int from = i < first_decoded ? first_decoded : i - 1;
                memcpy(rgb + (size_t)i * frame_bytes, rgb + (size_t)from * frame_bytes, frame_bytes);
            }
        }
    }
    free(decoded);
    return r;
}

int nl_video_next(nl_video *v, int out_w, int out_h, uint8_t *rgb, double *seconds, char *err, size_t errlen) {
    if (out_w <= 0 || out_h <= 0 || out_w > NL_MAX_SIDE || out_h > NL_MAX_SIDE || (int64_t)out_w * out_h > NL_MAX_PIXELS) {
        nl_set_error(err, errlen, "bad output size %dx%d", out_w, out_h);
        return NL_ERR_ARGUMENT;
    }
    if (__atomic_load_n(&v->cancelled, __ATOMIC_RELAXED)) return 0;
    arm_deadline(v);
    if (v->pending) {
        v->pending = 0;
    } else {
        int ret = next_frame(v);
        if (ret == AVERROR_EOF || __atomic_load_n(&v->cancelled, __ATOMIC_RELAXED)) return 0;
        if (ret == AVERROR_EXIT) { nl_set_error(err, errlen, "no frame for %.0f s (the source stalled)", v->timeout); return NL_ERR_TIMEOUT; }
        if (ret < 0) return 0;
    }
    // Stream time from the timestamps; counted at the frame rate where there are none.
    if (v->ordinal || v->frame->best_effort_timestamp == AV_NOPTS_VALUE)
        *seconds = v->info.frame_rate > 0 ? (v->produced - 1) / v->info.frame_rate : 0;
    else
        *seconds = (v->frame->pts - v->first_pts) * av_q2d(v->st->time_base);
    int r = check_size(v, v->produced - 1, err, errlen);
    if (r < 0) return r;
    r = nl_scaler_submit(v->scaler, v->frame, out_w, out_h, rgb, err, errlen);
    int finished = nl_scaler_finish(v->scaler, r == NL_OK ? err : NULL, errlen);
    return r < 0 ? r : finished < 0 ? finished : 1;
}

void nl_video_cancel(nl_video *v) { __atomic_store_n(&v->cancelled, 1, __ATOMIC_RELAXED); }

void nl_video_close(nl_video *v) {
    if (!v) return;
    nl_scaler_free(v->scaler);
    avcodec_free_context(&v->dec);
    if (v->fmt) avformat_close_input(&v->fmt);
    av_packet_free(&v->pkt);
    av_frame_free(&v->frame);
    free(v->pts);
    free(v->seen);
    free(v->keys);
    free(v->path);
    free(v->format);
    free(v->format_options);
    free(v);
}

typedef struct { int64_t deadline; } spool_clock;

static int spool_interrupt(void *opaque) {
    const spool_clock *c = opaque;
    return c->deadline && av_gettime_relative() > c->deadline;
}

int nl_spool(const char *url, int fd, double idle_seconds, int64_t max_bytes, int64_t *written, char *err, size_t errlen) {
    char buf[128];
    *written = 0;
    spool_clock clock = {0};
    AVIOInterruptCB cb = {spool_interrupt, &clock};
    AVIOContext *in = NULL;
    int64_t idle = idle_seconds > 0 ? (int64_t)(idle_seconds * 1e6) : 0;
    clock.deadline = idle ? av_gettime_relative() + idle : 0;
    int ret = avio_open2(&in, url, AVIO_FLAG_READ, &cb, NULL);
    if (ret < 0) {
        if (ret == AVERROR_EXIT) { nl_set_error(err, errlen, "no answer in %.0f s", idle_seconds); return NL_ERR_TIMEOUT; }
        nl_set_error(err, errlen, "cannot open: %s", nl_av_message(ret, buf, sizeof buf));
        return NL_ERR_OPEN;
    }
    static const int chunk = 1 << 16;
    unsigned char *data = av_malloc(chunk);
    int r = data ? NL_OK : NL_ERR_MEMORY;
    if (!data) nl_set_error(err, errlen, "out of memory");
    while (r == NL_OK) {
        clock.deadline = idle ? av_gettime_relative() + idle : 0;
        int n = avio_read_partial(in, data, chunk);
        if (n == AVERROR_EOF || n == 0) break;
        // A source that goes quiet (UDP has no end-of-stream) ends the input once it has given
        // something; before that, silence is a source that does not answer.
        if (n == AVERROR_EXIT) {
            if (*written == 0) { nl_set_error(err, errlen, "no data in %.0f s", idle_seconds); r = NL_ERR_TIMEOUT; }
            break;
        }
        if (n < 0) { nl_set_error(err, errlen, "read failed after %lld bytes: %s", (long long)*written, nl_av_message(n, buf, sizeof buf)); r = NL_ERR_DECODE; break; }
        if (max_bytes > 0 && *written + n > max_bytes) {
            nl_set_error(err, errlen, "more than %lld bytes: a live stream? (read it with `nlnet watch`)", (long long)max_bytes);
            r = NL_ERR_TOO_LARGE;
            break;
        }
        for (int off = 0; off < n;) {
            ssize_t w = write(fd, data + off, n - off);
            if (w < 0) { nl_set_error(err, errlen, "cannot write the spool file: %s", strerror(errno)); r = NL_ERR_OPEN; break; }
            off += (int)w;
        }
        *written += n;
    }
    av_free(data);
    avio_closep(&in);
    return r;
}
