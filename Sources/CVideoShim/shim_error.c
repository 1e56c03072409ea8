// See shim_error.h.
#include "shim_error.h"

#include "video_shim.h"

#include <libavutil/error.h>
#include <stdarg.h>
#include <stdio.h>

void nl_set_error(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *nl_av_message(int code, char *buf, size_t n) {
    if (av_strerror(code, buf, n) < 0) snprintf(buf, n, "error %d", code);
    return buf;
}

int nl_codec_failure(char *err, size_t errlen, const char *what, int code) {
    char buf[128];
    nl_set_error(err, errlen, "%s: %s", what, nl_av_message(code, buf, sizeof buf));
    return NL_ERR_CODEC;
}
