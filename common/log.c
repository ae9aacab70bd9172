#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"

enum log_level log_min_level = LOG_INFO;

static enum log_format log_format = LOG_FORMAT_LOGFMT;
static const char *log_program = "blotter";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

#define MAX_SECRETS 512
static char *secrets[MAX_SECRETS];
static size_t n_secrets;

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

void log_setup(enum log_level level, enum log_format format, const char *program)
{
    log_min_level = level;
    log_format = format;
    if (program) {
        log_program = program;
    }
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_register_secret(const char *value)
{
    /* Very short values would mask ordinary words; they are not worth masking. */
    if (!value || strlen(value) < 4) {
        return;
    }
    pthread_mutex_lock(&log_lock);
    bool known = false;
    for (size_t i = 0; i < n_secrets && !known; i++) {
        known = strcmp(secrets[i], value) == 0;
    }
    if (!known && n_secrets < MAX_SECRETS) {
        secrets[n_secrets++] = strdup(value);
    }
    pthread_mutex_unlock(&log_lock);
}

void log_reset_secrets(void)
{
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < n_secrets; i++) {
        free(secrets[i]);
        secrets[i] = NULL;
    }
    n_secrets = 0;
    pthread_mutex_unlock(&log_lock);
}

/* ---- Quoting ---- */

const char *LQ(const char *s)
{
    static _Thread_local char ring[8][512];
    static _Thread_local unsigned next;
    char *buf = ring[next++ % 8];
    size_t o = 0, cap = sizeof(ring[0]);

    if (!s) {
        return "null";
    }
    buf[o++] = '"';
    for (; *s && o + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c < 0x20) {
            o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    if (*s) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* ---- Output ---- */

static void mask_secrets(char *line)
{
    for (size_t i = 0; i < n_secrets; i++) {
        size_t n = secrets[i] ? strlen(secrets[i]) : 0;
        char *p = line;
        while (n && (p = strstr(p, secrets[i])) != NULL) {
            memset(p, '*', n);
            p += n;
        }
    }
}

void log_mask_secrets(char *text)
{
    pthread_mutex_lock(&log_lock);
    mask_secrets(text);
    pthread_mutex_unlock(&log_lock);
}

/* Re-shape logfmt pairs (key=value, key="quoted \" value") into JSON members. Text that is not a
 * pair goes into "msg". Quoted values keep their escapes, which JSON reads the same way. */
static void logfmt_to_json(struct buf *out, const char *p)
{
    while (*p) {
        while (*p == ' ') {
            p++;
        }
        if (!*p) {
            break;
        }
        const char *k = p;
        while (*p && *p != '=' && *p != ' ') {
            p++;
        }
        if (*p != '=') {
            buf_puts(out, ",\"msg\":");
            buf_put_json_string(out, k, strlen(k));
            return;
        }
        size_t klen = (size_t)(p - k);
        p++;
        buf_putc(out, ',');
        buf_put_json_string(out, k, klen);
        buf_putc(out, ':');
        if (*p == '"') {
            const char *v = p++;
            while (*p && *p != '"') {
                p += (*p == '\\' && p[1]) ? 2 : 1;
            }
            if (*p == '"') {
                p++;
            }
            buf_put(out, v, (size_t)(p - v));
            if (p[-1] != '"' || p - v < 2) {
                buf_putc(out, '"');
            }
        } else {
            const char *v = p;
            while (*p && *p != ' ') {
                p++;
            }
            buf_put_json_string(out, v, (size_t)(p - v));
        }
    }
}

static void emit_line(enum log_level level, const char *event, const char *body)
{
    char ts[40];
    struct timespec now;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);

    pthread_mutex_lock(&log_lock);
    char *line = strdup(body);
    if (line) {
        mask_secrets(line);
    }
    if (log_format == LOG_FORMAT_JSON) {
        struct buf out = {0};
        buf_printf(&out, "{\"ts\":\"%s\",\"level\":\"%s\",\"prog\":\"%s\",\"event\":", ts,
                   level_names[level], log_program);
        buf_put_json_string(&out, event, strlen(event));
        logfmt_to_json(&out, line ? line : "");
        buf_puts(&out, "}\n");
        if (!out.oom) {
            fputs(out.p, stderr);
        }
        buf_free(&out);
    } else {
        fprintf(stderr, "ts=%s level=%s prog=%s event=%s%s%s\n", ts, level_names[level],
                log_program, event, line && *line ? " " : "", line ? line : "");
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    free(line);
}

static void emit_v(enum log_level level, const char *event, const char *suffix, const char *fmt,
                   va_list ap)
{
    char body[4096];
    int n = vsnprintf(body, sizeof(body), fmt, ap);
    if (suffix && n >= 0 && (size_t)n < sizeof(body)) {
        snprintf(body + n, sizeof(body) - (size_t)n, "%s", suffix);
    }
    emit_line(level, event, body);
}

void log_emit(enum log_level level, const char *event, const char *fmt, ...)
{
    va_list ap;
    if (level < log_min_level) {
        return;
    }
    va_start(ap, fmt);
    emit_v(level, event, NULL, fmt, ap);
    va_end(ap);
}

/* ---- Rate limiting ---- */

#define LIMIT_SLOTS 64
static struct {
    const char *event;
    time_t last;
    unsigned long suppressed;
} limits[LIMIT_SLOTS];

void log_emit_limited(enum log_level level, const char *event, int interval_s, const char *fmt, ...)
{
    va_list ap;
    char suffix[48] = "";
    time_t now = time(NULL);
    bool emit = true;

    if (level < log_min_level) {
        return;
    }
    pthread_mutex_lock(&log_lock);
    size_t slot = 0;
    for (; slot < LIMIT_SLOTS; slot++) {
        if (!limits[slot].event || strcmp(limits[slot].event, event) == 0) {
            break;
        }
    }
    if (slot < LIMIT_SLOTS) {
        if (limits[slot].event && now - limits[slot].last < interval_s) {
            limits[slot].suppressed++;
            emit = false;
        } else {
            if (limits[slot].suppressed) {
                snprintf(suffix, sizeof(suffix), " suppressed=%lu", limits[slot].suppressed);
            }
            limits[slot].event = event;
            limits[slot].last = now;
            limits[slot].suppressed = 0;
        }
    }
    pthread_mutex_unlock(&log_lock);
    if (!emit) {
        return;
    }
    va_start(ap, fmt);
    emit_v(level, event, suffix, fmt, ap);
    va_end(ap);
}

void log_rdkafka_cb(const struct rd_kafka_s *rk, int syslog_level, const char *fac, const char *buf)
{
    enum log_level level = syslog_level <= 3   ? LOG_ERROR
                           : syslog_level == 4 ? LOG_WARN
                           : syslog_level <= 6 ? LOG_INFO
                                               : LOG_DEBUG;
    (void)rk;
    if (level < log_min_level) {
        return;
    }
    log_emit(level, "kafka.log", "fac=%s msg=%s", fac, LQ(buf));
}
