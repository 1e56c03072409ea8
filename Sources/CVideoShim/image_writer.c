// Still and animated images for `nlnet attention`, written with FFmpeg's own encoders.
#include "video_shim.h"

#include "shim_error.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <stdio.h>

int nl_write_png(const char *path, const uint8_t *rgb, int width, int height, char *err, size_t errlen) {
    if (width <= 0 || height <= 0 || width > 16384 || height > 16384) { snprintf(err, errlen, "bad image size %dx%d", width, height); return NL_ERR_ARGUMENT; }
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    if (!codec) { snprintf(err, errlen, "FFmpeg has no PNG encoder"); return NL_ERR_CODEC; }
    AVCodecContext *ctx = avcodec_alloc_context3(codec);
    AVFrame *frame = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    int ret = NL_ERR_MEMORY;
    if (!ctx || !frame || !pkt) { snprintf(err, errlen, "out of memory"); goto done; }
    ctx->width = width; ctx->height = height; ctx->pix_fmt = AV_PIX_FMT_RGB24; ctx->time_base = (AVRational){1, 1};
    int r = avcodec_open2(ctx, codec, NULL);
    if (r < 0) { ret = nl_codec_failure(err, errlen, "cannot open the PNG encoder", r); goto done; }
    frame->width = width; frame->height = height; frame->format = AV_PIX_FMT_RGB24;
    frame->data[0] = (uint8_t *)rgb; frame->linesize[0] = width * 3;
    if ((r = avcodec_send_frame(ctx, frame)) < 0 || (r = avcodec_send_frame(ctx, NULL)) < 0) { ret = nl_codec_failure(err, errlen, "PNG encoding failed", r); goto done; }
    if ((r = avcodec_receive_packet(ctx, pkt)) < 0) { ret = nl_codec_failure(err, errlen, "PNG encoding failed", r); goto done; }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(pkt->data, 1, pkt->size, f) != (size_t)pkt->size) {
        if (f) fclose(f);
        snprintf(err, errlen, "cannot write the file");
        ret = NL_ERR_OPEN;
        goto done;
    }
    fclose(f);
    ret = NL_OK;
done:
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avcodec_free_context(&ctx);
    return ret;
}

int nl_write_gif(const char *path, const uint8_t *rgb, int count, int width, int height, int delay_ms,
                 char *err, size_t errlen) {
    if (count <= 0 || width <= 0 || height <= 0 || width > 16384 || height > 16384) {
        snprintf(err, errlen, "bad animation: %d frames of %dx%d", count, width, height);
        return NL_ERR_ARGUMENT;
    }
    AVFormatContext *oc = NULL;
    AVCodecContext *ctx = NULL;
    AVFrame *frame = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    struct SwsContext *sws = NULL;
    int ret = NL_ERR_MEMORY, r;
    if (!frame || !pkt) { snprintf(err, errlen, "out of memory"); goto done; }
    if ((r = avformat_alloc_output_context2(&oc, NULL, "gif", path)) < 0) { ret = nl_codec_failure(err, errlen, "cannot create the GIF", r); goto done; }
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_GIF);
    AVStream *st = codec ? avformat_new_stream(oc, NULL) : NULL;
    ctx = codec ? avcodec_alloc_context3(codec) : NULL;
    if (!st || !ctx) { snprintf(err, errlen, "FFmpeg has no GIF encoder"); ret = NL_ERR_CODEC; goto done; }
    ctx->width = width; ctx->height = height; ctx->pix_fmt = AV_PIX_FMT_RGB8;
    ctx->time_base = (AVRational){delay_ms > 0 ? delay_ms : 100, 1000};
    if ((r = avcodec_open2(ctx, codec, NULL)) < 0) { ret = nl_codec_failure(err, errlen, "cannot open the GIF encoder", r); goto done; }
    avcodec_parameters_from_context(st->codecpar, ctx);
    st->time_base = ctx->time_base;
    if ((r = avio_open(&oc->pb, path, AVIO_FLAG_WRITE)) < 0) { ret = nl_codec_failure(err, errlen, "cannot write the file", r); goto done; }
    if ((r = avformat_write_header(oc, NULL)) < 0) { ret = nl_codec_failure(err, errlen, "cannot write the GIF header", r); goto done; }
    sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_RGB8, SWS_POINT, NULL, NULL, NULL);
    frame->width = width; frame->height = height; frame->format = AV_PIX_FMT_RGB8;
    if (!sws || av_frame_get_buffer(frame, 0) < 0) { snprintf(err, errlen, "out of memory"); goto done; }
    for (int i = 0; i <= count; i++) {
        if (i < count) {
            const uint8_t *src[4] = {rgb + (size_t)i * width * height * 3, NULL, NULL, NULL};
            int srcStride[4] = {width * 3, 0, 0, 0};
            av_frame_make_writable(frame);
            sws_scale(sws, src, srcStride, 0, height, frame->data, frame->linesize);
            frame->pts = i;
        }
        if ((r = avcodec_send_frame(ctx, i < count ? frame : NULL)) < 0) { ret = nl_codec_failure(err, errlen, "GIF encoding failed", r); goto done; }
        while ((r = avcodec_receive_packet(ctx, pkt)) >= 0) {
            av_packet_rescale_ts(pkt, ctx->time_base, st->time_base);
            pkt->stream_index = st->index;
            av_interleaved_write_frame(oc, pkt);
        }
    }
    av_write_trailer(oc);
    ret = NL_OK;
done:
    sws_freeContext(sws);
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avcodec_free_context(&ctx);
    if (oc) { if (oc->pb) avio_closep(&oc->pb); avformat_free_context(oc); }
    return ret;
}
