// See frame_scaler.h.
#include "frame_scaler.h"

#include "shim_error.h"
#include "video_shim.h"

#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Frames waiting for the scaler thread: enough to ride out a slow frame on either side,
// few enough that held decoder buffers stay small (8 × 1.4 MB at 720p).
#define NL_SCALE_QUEUE 8

typedef struct {
    AVFrame *frame;
    uint8_t *dst;
    int out_w, out_h;
} scale_job;

struct nl_scaler {
    int rotation;
    int threads;          // swscale slice threads (0: one per core)
    struct SwsContext *sws;
    int src_w, src_h, src_fmt, dst_w, dst_h, src_range, src_space;
    uint8_t *rotated;     // pre-rotation RGB24 scratch
    size_t rotated_size;

    // Background mode: a ring of jobs, the thread that drains it, and the first failure.
    int background;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    scale_job queue[NL_SCALE_QUEUE];
    int head, queued, in_progress, stopping;
    int failure;
    char failure_text[256];
};

// (Re)creates the swscale context when the source or target geometry or colour changes.
static int prepare(nl_scaler *s, const AVFrame *f, int sw, int sh, char *err, size_t errlen) {
    int range = f->color_range, space = f->colorspace;
    if (s->sws && s->src_w == f->width && s->src_h == f->height && s->src_fmt == f->format &&
        s->dst_w == sw && s->dst_h == sh && s->src_range == range && s->src_space == space) return NL_OK;
    sws_freeContext(s->sws);
    // Fixed flags (bilinear) so output is reproducible and equals ffmpeg's scale filter.
    s->sws = sws_alloc_context();
    if (s->sws) {
        av_opt_set_int(s->sws, "srcw", f->width, 0);
        av_opt_set_int(s->sws, "srch", f->height, 0);
        av_opt_set_int(s->sws, "src_format", f->format, 0);
        av_opt_set_int(s->sws, "dstw", sw, 0);
        av_opt_set_int(s->sws, "dsth", sh, 0);
        av_opt_set_int(s->sws, "dst_format", AV_PIX_FMT_RGB24, 0);
        av_opt_set_int(s->sws, "sws_flags", SWS_BILINEAR, 0);
        // Slice threads as FFmpeg's scale filter uses (the output is the same); measured on
        // 2 cores, two slice threads beside two decoder threads beat one by about 6%.
        av_opt_set_int(s->sws, "threads", s->threads, 0);
        if (sws_init_context(s->sws, NULL, NULL) < 0) { sws_freeContext(s->sws); s->sws = NULL; }
    }
    if (!s->sws) {
        nl_set_error(err, errlen, "cannot convert %s %dx%d to RGB24 %dx%d", av_get_pix_fmt_name(f->format), f->width, f->height, sw, sh);
        return NL_ERR_CODEC;
    }
    // As FFmpeg's scale filter does: the frame's own YUV matrix and range.
    int *inv_table, *table, in_full, out_full, brightness, contrast, saturation;
    sws_getColorspaceDetails(s->sws, &inv_table, &in_full, &table, &out_full, &brightness, &contrast, &saturation);
    const int *coefs = sws_getCoefficients(space == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : space);
    if (range != AVCOL_RANGE_UNSPECIFIED) in_full = range == AVCOL_RANGE_JPEG;
    sws_setColorspaceDetails(s->sws, coefs, in_full, coefs, out_full, brightness, contrast, saturation);
    s->src_w = f->width; s->src_h = f->height; s->src_fmt = f->format;
    s->dst_w = sw; s->dst_h = sh; s->src_range = range; s->src_space = space;
    return NL_OK;
}

static void borrow_free(void *opaque, uint8_t *data) { (void)opaque; (void)data; }

// Scales one frame on the calling thread.
static int scale_now(nl_scaler *s, const AVFrame *f, int out_w, int out_h, uint8_t *dst, char *err, size_t errlen) {
    int rot = s->rotation;
    int sw = (rot == 90 || rot == 270) ? out_h : out_w;   // pre-rotation size
    int sh = (rot == 90 || rot == 270) ? out_w : out_h;
    int r = prepare(s, f, sw, sh, err, errlen);
    if (r < 0) return r;
    uint8_t *target = dst;
    if (rot != 0) {
        size_t need = (size_t)sw * sh * 3;
        if (s->rotated_size < need) {
            free(s->rotated);
            s->rotated = malloc(need);
            s->rotated_size = s->rotated ? need : 0;
            if (!s->rotated) { nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
        }
        target = s->rotated;
    }
    // The destination frame borrows `target` (a no-op free), so swscale writes in place.
    AVFrame *out = av_frame_alloc();
    AVBufferRef *buffer = av_buffer_create(target, (size_t)sw * sh * 3, borrow_free, NULL, 0);
    if (!out || !buffer) { av_frame_free(&out); av_buffer_unref(&buffer); nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
    out->buf[0] = buffer;
    out->data[0] = target;
    out->linesize[0] = sw * 3;
    out->width = sw; out->height = sh; out->format = AV_PIX_FMT_RGB24;
    int scaled = sws_scale_frame(s->sws, out, f);
    av_frame_free(&out);
    if (scaled < 0) {
        return nl_codec_failure(err, errlen, "cannot convert the frame to RGB24", scaled);
    }
    if (rot == 0) return NL_OK;
    // Rotate clockwise into dst (out_w × out_h).
    for (int y = 0; y < out_h; y++) {
        for (int x = 0; x < out_w; x++) {
            int sx, sy;
            if (rot == 90) { sx = y; sy = sh - 1 - x; }
            else if (rot == 180) { sx = sw - 1 - x; sy = sh - 1 - y; }
            else { sx = sw - 1 - y; sy = x; }
            memcpy(dst + ((size_t)y * out_w + x) * 3, s->rotated + ((size_t)sy * sw + sx) * 3, 3);
        }
    }
    return NL_OK;
}

static void *scaler_thread(void *opaque) {
    nl_scaler *s = opaque;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->queued && !s->stopping) pthread_cond_wait(&s->changed, &s->lock);
        if (!s->queued) break;   // stopping, and nothing left
        scale_job job = s->queue[s->head];
        s->head = (s->head + 1) % NL_SCALE_QUEUE;
        s->queued--;
        s->in_progress = 1;
        int skip = s->failure != NL_OK;   // after a failure, only release the frames
        pthread_mutex_unlock(&s->lock);
        char text[256] = "";
        int r = skip ? NL_OK : scale_now(s, job.frame, job.out_w, job.out_h, job.dst, text, sizeof text);
        av_frame_free(&job.frame);
        pthread_mutex_lock(&s->lock);
        if (r < 0 && s->failure == NL_OK) {
            s->failure = r;
            memcpy(s->failure_text, text, sizeof text);
        }
        s->in_progress = 0;
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

nl_scaler *nl_scaler_create(int rotation, int threads) {
    nl_scaler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->rotation = rotation;
    s->threads = threads;
    if (threads != 1) {
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->changed, NULL);
        // Without a thread (resource limits) the scaler still works, inline.
        if (pthread_create(&s->thread, NULL, scaler_thread, s) == 0) s->background = 1;
        else { pthread_mutex_destroy(&s->lock); pthread_cond_destroy(&s->changed); }
    }
    return s;
}

// Takes the recorded failure (caller holds the lock).
static int take_failure(nl_scaler *s, char *err, size_t errlen) {
    int r = s->failure;
    if (r < 0) nl_set_error(err, errlen, "%s", s->failure_text);
    s->failure = NL_OK;
    return r;
}

int nl_scaler_submit(nl_scaler *s, const AVFrame *frame, int out_w, int out_h, uint8_t *dst,
                     char *err, size_t errlen) {
    if (!s->background) return scale_now(s, frame, out_w, out_h, dst, err, errlen);
    AVFrame *held = av_frame_clone(frame);
    if (!held) { nl_set_error(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
    pthread_mutex_lock(&s->lock);
    while (s->queued == NL_SCALE_QUEUE) pthread_cond_wait(&s->changed, &s->lock);
    s->queue[(s->head + s->queued) % NL_SCALE_QUEUE] = (scale_job){held, dst, out_w, out_h};
    s->queued++;
    pthread_cond_broadcast(&s->changed);
    int r = s->failure < 0 ? take_failure(s, err, errlen) : NL_OK;
    pthread_mutex_unlock(&s->lock);
    return r;
}

int nl_scaler_finish(nl_scaler *s, char *err, size_t errlen) {
    if (!s || !s->background) return NL_OK;
    pthread_mutex_lock(&s->lock);
    while (s->queued || s->in_progress) pthread_cond_wait(&s->changed, &s->lock);
    int r = take_failure(s, err, errlen);
    pthread_mutex_unlock(&s->lock);
    return r;
}

void nl_scaler_free(nl_scaler *s) {
    if (!s) return;
    if (s->background) {
        pthread_mutex_lock(&s->lock);
        s->stopping = 1;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->changed);
    }
    sws_freeContext(s->sws);
    free(s->rotated);
    free(s);
}
