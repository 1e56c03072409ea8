// Encodes generated clips (see include/video_shim.h, nl_writer_*).
#include "video_shim.h"

#include "shim_error.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nl_video_writer {
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    int64_t next_pts;
    int width, height;
};

static int drain(nl_video_writer *w) {
    int r;
    while ((r = avcodec_receive_packet(w->enc, w->pkt)) >= 0) {
        // Each frame lasts one tick; without it the last sample has no duration and the MP4
        // edit list ends before it, so readers would drop it.
        if (w->pkt->duration <= 0) w->pkt->duration = 1;
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        if ((r = av_interleaved_write_frame(w->oc, w->pkt)) < 0) return r;
    }
    return r == AVERROR(EAGAIN) || r == AVERROR_EOF ? 0 : r;
}

int nl_writer_open(const char *path, int width, int height, int fps, nl_video_writer **out, char *err, size_t errlen) {
    *out = NULL;
    const char *log = getenv("NLNET_FFMPEG_LOG");
    av_log_set_level(log && *log && strcmp(log, "0") ? AV_LOG_WARNING : AV_LOG_QUIET);
    if (width < 16 || height < 16 || width % 2 || height % 2 || width > 8192 || height > 8192 || fps < 1 || fps > 240) {
        snprintf(err, errlen, "bad clip geometry %dx%d at %d fps (even sizes ≥ 16)", width, height, fps);
        return NL_ERR_ARGUMENT;
    }
    nl_video_writer *w = calloc(1, sizeof *w);
    if (!w) { snprintf(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
    w->width = width; w->height = height;
    int r = avformat_alloc_output_context2(&w->oc, NULL, NULL, path);
    if (r < 0 || !w->oc) { free(w); return nl_codec_failure(err, errlen, "no container for this file name", r); }
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    w->st = codec ? avformat_new_stream(w->oc, NULL) : NULL;
    w->enc = codec ? avcodec_alloc_context3(codec) : NULL;
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->st || !w->enc || !w->frame || !w->pkt) { nl_writer_close(w, NULL, 0); snprintf(err, errlen, "no H.264 or MPEG-4 encoder"); return NL_ERR_CODEC; }
    w->enc->width = width; w->enc->height = height; w->enc->pix_fmt = AV_PIX_FMT_YUV420P;
    w->enc->time_base = (AVRational){1, fps};
    w->enc->framerate = (AVRational){fps, 1};
    w->enc->gop_size = 12;
    // No B-frames: decode order = display order, so no negative timestamps or edit lists that
    // would make a demuxer drop a frame.
    w->enc->max_b_frames = 0;
    w->enc->thread_count = 1;
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER) w->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (codec->id == AV_CODEC_ID_H264) {
        av_opt_set(w->enc->priv_data, "preset", "veryfast", 0);
        av_opt_set(w->enc->priv_data, "crf", "20", 0);
        // x264's macroblock-tree rate control made the bytes of `nlnet synth` differ between runs
        // with one seed (7 of 150 runs of 12 clips; the frames handed over were identical, and
        // a C harness calling this writer never differed: the cause inside x264 is unknown).
        // Without it, 0 of 300 runs differed.
        av_opt_set(w->enc->priv_data, "x264-params", "mbtree=0", 0);
    } else {
        w->enc->bit_rate = 0;
        w->enc->global_quality = FF_QP2LAMBDA * 3;
        w->enc->flags |= AV_CODEC_FLAG_QSCALE;
    }
    if ((r = avcodec_open2(w->enc, codec, NULL)) < 0) { nl_writer_close(w, NULL, 0); return nl_codec_failure(err, errlen, "cannot open the encoder", r); }
    avcodec_parameters_from_context(w->st->codecpar, w->enc);
    w->st->time_base = w->enc->time_base;
    av_dict_set(&w->oc->metadata, "encoder", "nlnet synth", 0);   // no version-dependent tag
    w->oc->flags |= AVFMT_FLAG_BITEXACT;
    if ((r = avio_open(&w->oc->pb, path, AVIO_FLAG_WRITE)) < 0) { nl_writer_close(w, NULL, 0); return nl_codec_failure(err, errlen, "cannot write the file", r); }
    if ((r = avformat_write_header(w->oc, NULL)) < 0) { nl_writer_close(w, NULL, 0); return nl_codec_failure(err, errlen, "cannot write the header", r); }
    w->sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
    w->frame->width = width; w->frame->height = height; w->frame->format = AV_PIX_FMT_YUV420P;
    if (!w->sws || av_frame_get_buffer(w->frame, 0) < 0) { nl_writer_close(w, NULL, 0); snprintf(err, errlen, "out of memory"); return NL_ERR_MEMORY; }
    *out = w;
    return NL_OK;
}

int nl_writer_add(nl_video_writer *w, const uint8_t *rgb, char *err, size_t errlen) {
    const uint8_t *src[4] = {rgb, NULL, NULL, NULL};
    int stride[4] = {w->width * 3, 0, 0, 0};
    av_frame_make_writable(w->frame);
    sws_scale(w->sws, src, stride, 0, w->height, w->frame->data, w->frame->linesize);
    w->frame->pts = w->next_pts++;
    int r = avcodec_send_frame(w->enc, w->frame);
    if (r < 0 || (r = drain(w)) < 0) return nl_codec_failure(err, errlen, "encoding failed", r);
    return NL_OK;
}

int nl_writer_close(nl_video_writer *w, char *err, size_t errlen) {
    if (!w) return NL_OK;
    int status = NL_OK;
    if (w->oc && w->oc->pb && w->enc && avcodec_is_open(w->enc)) {
        int r = avcodec_send_frame(w->enc, NULL);
        if (r >= 0) r = drain(w);
        if (r >= 0) r = av_write_trailer(w->oc);
        if (r < 0 && err) status = nl_codec_failure(err, errlen, "cannot finish the file", r);
    }
    sws_freeContext(w->sws);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    avcodec_free_context(&w->enc);
    if (w->oc) { if (w->oc->pb) avio_closep(&w->oc->pb); avformat_free_context(w->oc); }
    free(w);
    return status;
}
