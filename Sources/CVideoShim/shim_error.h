// Error text for the shim's callers: every failing function returns a negative NL_ERR_* code
// and writes one line of cause into the caller's buffer (callers prefix the file's path).
#ifndef NL_SHIM_ERROR_H
#define NL_SHIM_ERROR_H

#include <stddef.h>

// printf into err (nothing when err is NULL or errlen is 0).
void nl_set_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// FFmpeg's message for an AVERROR code, in buf.
const char *nl_av_message(int code, char *buf, size_t n);

// "what: FFmpeg's message" into err; returns NL_ERR_CODEC.
int nl_codec_failure(char *err, size_t errlen, const char *what, int code);

#endif
