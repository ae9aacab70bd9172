/* One line per event on stderr, logfmt or JSON.
 *
 *   log_info("page.fetched", "city=%s rows=%zu", city, n);
 *
 * The format produces logfmt pairs (key=value). Values that may hold spaces or quotes go through
 * LQ(), which quotes and escapes them. In JSON mode the line is re-shaped into an object. The level
 * is checked before any argument is formatted. Registered secrets are masked in every line. */
#ifndef BLOTTER_LOG_H
#define BLOTTER_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };
enum log_format { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON };

extern enum log_level log_min_level;

void log_setup(enum log_level level, enum log_format format, const char *program);
int log_level_parse(const char *s, enum log_level *out);

/* Mask every later occurrence of value (a password, token, DSN) in log output. */
/* Mask value (exactly these bytes) in every line from now on; values shorter than 4 bytes are
 * not masked. common/secret.h registers a secret with every form of it a line may hold. */
void log_register_secret(const char *value);
void log_reset_secrets(void);
/* Mask every registered secret in text (in place): for text written outside the log (messages
 * of the settings parser). */
void log_mask_secrets(char *text);

void log_emit(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like log_emit, but at most once per interval_s for the same event name; the next line that
 * gets through carries suppressed=N. */
void log_emit_limited(enum log_level level, const char *event, int interval_s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Quote a string for a logfmt value. Returns one of a small ring of thread-local buffers, so up
 * to 8 LQ() values fit in one log call. Long values are cut. */
const char *LQ(const char *s);

/* librdkafka's log callback, routed into the same sink (signature of rd_kafka_conf_set_log_cb). */
struct rd_kafka_s;
void log_rdkafka_cb(const struct rd_kafka_s *rk, int syslog_level, const char *fac,
                    const char *buf);

#define log_at(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) >= log_min_level) {                                                            \
            log_emit((level), __VA_ARGS__);                                                        \
        }                                                                                          \
    } while (0)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)

#endif
