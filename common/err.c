#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *err_class_name(enum err_class cls)
{
    switch (cls) {
    case ERR_OK:
        return "ok";
    case ERR_TRANSIENT:
        return "transient";
    case ERR_PERMANENT:
        return "permanent";
    case ERR_FATAL:
        return "fatal";
    }
    return "unknown";
}

void err_set(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;
    if (!errstr || errstr_size == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}
