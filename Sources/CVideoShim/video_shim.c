// See include/video_shim.h. Frames are identified by presentation timestamp: opening reads
// every packet of the chosen stream once (demuxing only) to list the frames' timestamps in
// presentation order and the keyframes' decode timestamps. Frame i is the i-th smallest
// timestamp; decoding seeks to the keyframe before it and decodes forward until the frame
// with that timestamp comes out.
#include "video_shim.h"

#include "frame_scaler.h"
#include "shim_error.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <libavutil/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

    int64_t *pts;             // n_frames presentation timestamps, ascending
    int64_t n_frames;
    uint8_t *seen;            // per frame: decoded before (for stats.redecoded)
    nl_packet_entry *keys;    // keyframes ascending by pts
    int64_t n_keys;

    int64_t last_pts;         // timestamp of the last frame the decoder produced (INT64_MIN: none)
    int64_t sent_dts;         // decode timestamp of the last packet given to the decoder (INT64_MIN: none)
    int draining;             // a flush packet was sent: the decoder must be reset before reuse
    int at_eof;

    double timeout;           // seconds allowed per open/decode call
    int64_t deadline;         // av_gettime_relative() deadline for the interrupt callback

    nl_video_info info;
    nl_video_stats stats;
};

static int interrupt_cb(void *opaque) {
    nl_video *v = opaque;
    return v->deadline && av_gettime_relative() > v->deadline;
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

// Picks the video stream with the most pixels, skipping cover art (attached pictures).
static int pick_stream(AVFormatContext *fmt, int *video_streams) {
    int best = -1;
    int64_t best_score = -1;
    *video_streams = 0;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        AVStream *st = fmt->streams[i];
        if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) continue;
        if (st->disposition & AV_DISPOSITION_ATTACHED_PIC) continue;
        (*video_streams)++;
        int64_t score = (int64_t)st->codecpar->width * st->codecpar->height;
        if (st->disposition & AV_DISPOSITION_DEFAULT) score += 1;
        if (score > best_score) { best = (int)i; best_score = score; }
    }
    return best;
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

// Reads every packet of the stream, recording timestamps and keyframes; then rewinds.
static int build_index(nl_video *v, char *err, size_t errlen) {
    int64_t cap = 1024, kcap = 64, n = 0, nk = 0, synthetic = 0;
    int64_t *pts = malloc(cap * sizeof *pts);
    nl_packet_entry *keys = malloc(kcap * sizeof *keys);
    if (!pts || !keys) { free(pts); free(keys); nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
    char buf[128];
    int ret;
    while ((ret = av_read_frame(v->fmt, v->pkt)) >= 0) {
        if (v->pkt->stream_index == v->stream && !(v->pkt->flags & AV_PKT_FLAG_DISCARD)) {
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
    // Duplicate timestamps (broken muxers) would make frames indistinguishable: make them unique.
    for (int64_t i = 1; i < n; i++) if (pts[i] <= pts[i - 1]) pts[i] = pts[i - 1] + 1;
    qsort(keys, nk, sizeof *keys, cmp_key);
    v->pts = pts; v->n_frames = n; v->keys = keys; v->n_keys = nk;
    v->seen = calloc(n, 1);
    return NL_OK;
}

// Seeks so that decoding restarts at keyframe `k` (or an earlier one).
static int seek_to_key(nl_video *v, int64_t k) {
    avcodec_flush_buffers(v->dec);
    v->draining = 0;
    v->at_eof = 0;
    v->last_pts = INT64_MIN;
    v->sent_dts = INT64_MIN;
    v->stats.seeks++;
    int ret = av_seek_frame(v->fmt, v->stream, v->keys[k].dts, AVSEEK_FLAG_BACKWARD);
    if (ret < 0) ret = avformat_seek_file(v->fmt, v->stream, INT64_MIN, v->keys[k].dts, v->keys[k].dts, 0);
    if (ret < 0) ret = av_seek_frame(v->fmt, v->stream, v->keys[k].dts, AVSEEK_FLAG_BACKWARD | AVSEEK_FLAG_ANY);
    return ret;
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
            v->frame->pts = t;
            v->last_pts = t;
            v->stats.frames_decoded++;
            if ((v->frame->flags & AV_FRAME_FLAG_CORRUPT) || v->frame->decode_error_flags) v->stats.concealed++;
            // Which frame this is, to count frames decoded more than once.
            int64_t lo = 0, hi = v->n_frames - 1;
            while (lo < hi) { int64_t mid = (lo + hi) / 2; if (v->pts[mid] < t) lo = mid + 1; else hi = mid; }
            if (v->seen && v->n_frames > 0 && v->pts[lo] == t) {
                if (v->seen[lo]) v->stats.redecoded++;
                v->seen[lo] = 1;
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

int nl_video_open(const char *path, int threads, double timeout_seconds, nl_video **out, char *err, size_t errlen) {
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
    v->timeout = timeout_seconds;
    v->fmt = avformat_alloc_context();
    v->pkt = av_packet_alloc();
    v->frame = av_frame_alloc();
    if (!v->fmt || !v->pkt || !v->frame) { nl_set_error(err, errlen, "out of memory"); nl_video_close(v); return NL_ERR_MEMORY; }
    v->fmt->interrupt_callback = (AVIOInterruptCB){interrupt_cb, v};
    arm_deadline(v);
    int ret = avformat_open_input(&v->fmt, path, NULL, NULL);
    if (ret < 0) {
        v->fmt = NULL;  // freed by avformat_open_input on failure
        nl_set_error(err, errlen, "cannot open: %s", ret == AVERROR_INVALIDDATA ? "not a recognised video or media file" : nl_av_message(ret, buf, sizeof buf));
        nl_video_close(v);
        return NL_ERR_OPEN;
    }
    ret = avformat_find_stream_info(v->fmt, NULL);
    if (ret < 0) {
        nl_set_error(err, errlen, "cannot read stream information: %s", nl_av_message(ret, buf, sizeof buf));
        nl_video_close(v);
        return NL_ERR_OPEN;
    }
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
    v->dec->thread_count = threads > 0 ? threads : 0;
    v->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    v->dec->pkt_timebase = v->st->time_base;
    // Check what the format allows checking, so damage is noticed (stats.concealed).
    v->dec->err_recognition |= AV_EF_CRCCHECK;
    if ((ret = avcodec_open2(v->dec, codec, NULL)) < 0) {
        nl_set_error(err, errlen, "cannot open the %s decoder: %s", codec->name, nl_av_message(ret, buf, sizeof buf));
        nl_video_close(v);
        return NL_ERR_CODEC;
    }
    if ((ret = build_index(v, err, errlen)) < 0) { nl_video_close(v); return ret; }
    // Back to the start, and decode the first frame: the decoder then knows the encoder
    // (e.g. old x264 builds, whose fix-up FFmpeg applies only after reading a packet).
    av_seek_frame(v->fmt, v->stream, v->keys[0].dts, AVSEEK_FLAG_BACKWARD);
    avformat_flush(v->fmt);
    ret = next_frame(v);
    if (ret < 0) {
        long long rejected = (long long)v->stats.corrupt_packets;
        nl_video_close(v);
        if (ret == AVERROR_EXIT) { nl_set_error(err, errlen, "timed out decoding the first frame"); return NL_ERR_TIMEOUT; }
        nl_set_error(err, errlen, "no frame could be decoded (%lld packets rejected by the %s decoder)", rejected, codec->name);
        return NL_ERR_DECODE;
    }

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
    v->scaler = nl_scaler_create(info->rotation, threads > 0 ? threads : 0);
    if (!v->scaler) { nl_video_close(v); nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
    AVRational sar = av_guess_sample_aspect_ratio(v->fmt, v->st, v->frame);
    info->sar_num = sar.num > 0 && sar.den > 0 ? sar.num : 1;
    info->sar_den = sar.num > 0 && sar.den > 0 ? sar.den : 1;
    AVRational fr = v->st->avg_frame_rate.num > 0 ? v->st->avg_frame_rate : v->st->r_frame_rate;
    info->frame_rate = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0;
    double tb = av_q2d(v->st->time_base);
    if (v->st->duration != AV_NOPTS_VALUE && v->st->duration > 0) info->duration = v->st->duration * tb;
    else if (v->fmt->duration > 0) info->duration = v->fmt->duration / (double)AV_TIME_BASE;
    info->start_time = v->pts[0] * tb;
    info->header_frames = v->st->nb_frames;
    info->frame_count = v->n_frames;
    info->keyframe_count = v->n_keys;
    info->stream_index = v->stream;
    info->video_streams = video_streams;
    *out = v;
    return NL_OK;
}

void nl_video_get_info(const nl_video *v, nl_video_info *info) { *info = v->info; }
void nl_video_get_stats(const nl_video *v, nl_video_stats *stats) { *stats = v->stats; }

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
    int first_decoded = -1, r = NL_OK;
    int64_t substituted = 0;
    for (int i = 0; i < count && r == NL_OK; i++) {
        if (i > 0 && indices[i] == indices[i - 1]) continue;
        int64_t want = v->pts[indices[i]];
        // The frame may be the one already in hand (e.g. the first frame after open).
        int found = v->last_pts == want && v->frame->pts == want;
        int64_t k0 = key_before(v, want), tried = -1;
        for (int attempt = 0; !found && r == NL_OK && attempt < 3; attempt++) {
            // Attempt 0 continues forward when that is cheaper than seeking; a retry starts one
            // keyframe further back (the leading frames of an open GOP need the previous one).
            int64_t k = k0 - attempt < 0 ? 0 : k0 - attempt;
            if (attempt > 0 && k == tried) break;
            int behind = v->last_pts == INT64_MIN || v->last_pts >= want || v->at_eof;
            // Seeking ahead pays only when the keyframe has not been read yet; once its packet
            // is in the decoder, a seek would decode the frames in flight a second time.
            int skip = v->last_pts != INT64_MIN && v->keys[k].pts > v->last_pts &&
                       (v->sent_dts == INT64_MIN || v->keys[k].dts > v->sent_dts);
            if (behind || skip || attempt > 0) {
                seek_to_key(v, k);
                tried = k;
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
    free(v);
}
