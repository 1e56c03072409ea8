// Decoded frame → RGB24 at a requested size, rotated for display: swscale's bilinear filter with
// the frame's own YUV matrix and range, exactly as `ffmpeg -vf scale=W:H:flags=bilinear
// -pix_fmt rgb24` converts.
//
// Why a scaler of its own: scaling 720p to short side 256 costs about as much CPU as decoding
// it with two frame threads, and done on the decoding thread it stalls the decoder (its workers
// idle once their frames are done, waiting for the next packet). Unless `threads` is 1, frames
// are handed to one scaler thread through a short queue and scaled while the next ones decode.
#ifndef NL_FRAME_SCALER_H
#define NL_FRAME_SCALER_H

#include <libavutil/frame.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nl_scaler nl_scaler;

// rotation: display rotation in degrees clockwise (0, 90, 180, 270). threads: swscale slice
// threads (0: one per core); 1 also means no scaler thread: everything on the caller's thread.
nl_scaler *nl_scaler_create(int rotation, int threads);

// Scales `frame` into dst (out_w × out_h RGB24, rows of out_w·3 bytes). With a scaler
// thread this takes a reference to the frame and returns at once; dst must stay valid until
// nl_scaler_finish returns. A failure (here or, on the scaler thread, of an earlier frame) is
// returned by this call or by nl_scaler_finish.
int nl_scaler_submit(nl_scaler *s, const AVFrame *frame, int out_w, int out_h, uint8_t *dst,
                     char *err, size_t errlen);

// Waits until every submitted frame is written; returns the first failure, if any, and clears it.
int nl_scaler_finish(nl_scaler *s, char *err, size_t errlen);

// Waits for outstanding work and frees the scaler (NULL is fine).
void nl_scaler_free(nl_scaler *s);

#endif
