#define _GNU_SOURCE
#include "common/kafka.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/refused.h"
#include "common/secret.h"

/* fetch.queue.backoff.ms: librdkafka 2.1.0 and later; see kafka_conf_new. Before, a fixed
 * second, which the consumer shortens by waking the fetchers (kafka_fetch_wake_ms). */
#define FETCH_QUEUE_BACKOFF_SINCE 0x020100ff
#define FETCH_QUEUE_BACKOFF_MS    10
#define XSTR(x)                   #x
#define STR(x)                    XSTR(x)
#define FETCH_QUEUE_BACKOFF_ENV   "BLOTTER_KAFKA_FETCH_QUEUE_BACKOFF_MS"

/* The value of BLOTTER_KAFKA_FETCH_QUEUE_BACKOFF_MS in envp (NULL when absent or empty). */
static const char *backoff_env(char **envp)
{
    size_t n = sizeof(FETCH_QUEUE_BACKOFF_ENV) - 1;
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, FETCH_QUEUE_BACKOFF_ENV, n) == 0 && (*e)[n] == '=' && (*e)[n + 1]) {
            return *e + n + 1;
        }
    }
    return NULL;
}

/* Milliseconds, 0 to 300000 (librdkafka's range for fetch.queue.backoff.ms), or -1. */
static long backoff_ms_of(const char *v)
{
    char *end;
    errno = 0;
    long ms = strtol(v, &end, 10);
    return errno || end == v || *end || ms < 0 || ms > 300000 ? -1 : ms;
}

long kafka_fetch_wake_ms(char **envp)
{
    if (rd_kafka_version() >= FETCH_QUEUE_BACKOFF_SINCE) {
        return -1;
    }
    const char *v = backoff_env(envp);
    long ms = v ? backoff_ms_of(v) : FETCH_QUEUE_BACKOFF_MS;
    return ms >= 0 && ms < 1000 ? ms : -1;
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr, size_t n)
{
    if (rd_kafka_conf_set(conf, k, v, errstr, n) != RD_KAFKA_CONF_OK) {
        return -1;
    }
    return 0;
}

/* ---- Refusals (kafka_refused) ---- */

static pthread_mutex_t refusal_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool refusal_seen;
static int plaintext_hints;
static char refusal_why[512];

static void note_refusal(const char *why)
{
    pthread_mutex_lock(&refusal_lock);
    /* Plaintext to a TLS listener reads as a disconnection during the first request; so does a
     * broker stopping at that moment, once. */
    bool hint = strstr(why, "security.protocol") != NULL;
    if (!atomic_load(&refusal_seen) && (!hint || ++plaintext_hints >= 2)) {
        snprintf(refusal_why, sizeof(refusal_why), "%s", why);
        atomic_store(&refusal_seen, true);
    }
    pthread_mutex_unlock(&refusal_lock);
}

bool kafka_refused(char *why, size_t n)
{
    if (!atomic_load(&refusal_seen)) {
        return false;
    }
    pthread_mutex_lock(&refusal_lock);
    snprintf(why, n, "%s", refusal_why);
    pthread_mutex_unlock(&refusal_lock);
    return true;
}

/* librdkafka logs from its own threads (no log queue is set): refusals are noticed here, at
 * once, whether or not anything polls. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (strcmp(fac, "FAIL") == 0 && conn_verdict_of(buf) == CONN_REFUSED) {
        note_refusal(buf);
    }
    log_rdkafka_cb((const struct rd_kafka_s *)rk, level, fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL) {
        note_refusal(reason);
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        log_error("kafka.fatal", "code=%s error=%s", rd_kafka_err2name(orig), LQ(buf));
        return;
    }
    log_emit_limited(LOG_WARN, "kafka.error", 10, "code=%s error=%s",
                     rd_kafka_err2name((rd_kafka_resp_err_t)err), LQ(reason));
}

rd_kafka_conf_t *kafka_conf_new(enum kafka_role role, const char *brokers, char **envp,
                                char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const char *producer_defaults[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"compression.type", "zstd"},
        {"linger.ms", "20"},
        {"batch.num.messages", "10000"},
        {"queue.buffering.max.kbytes", "16384"},
        {"queue.buffering.max.messages", "100000"},
        {"message.timeout.ms", "300000"},
    };
    static const char *consumer_defaults[][2] = {
        {"enable.auto.offset.store", "false"},
        {"enable.auto.commit", "true"},
        {"auto.commit.interval.ms", "1000"},
        {"auto.offset.reset", "earliest"},
        /* A small pre-fetch: compressed batches expand several times once fetched. With the
         * fetch waker (librdkafka before 2.1) or a short fetch.queue.backoff.ms (2.1 and
         * later) a small queue keeps up: measured on 200k redelivered records, 2 MB/256 KB
         * fetches about 140k records/s at 46 MB RSS, 4 MB/512 KB the same speed at 65 MB,
         * 1 MB/128 KB 100-115k at 31 MB. Without them 2 MB ran three times slower. */
        {"enable.partition.eof", "true"},
        {"queued.max.messages.kbytes", "2048"},
        {"fetch.max.bytes", "2097152"},
        {"max.partition.fetch.bytes", "262144"},
        /* With static membership (the consumer's default) a member that restarts within the
         * session keeps its partitions without a rebalance; one that is gone for good holds them
         * this long. 45 s covers a crash-restart and a rolling update; see the README. */
        {"session.timeout.ms", "45000"},
        {"max.poll.interval.ms", "300000"},
    };
    const char *(*defaults)[2] = role == KAFKA_PRODUCER ? producer_defaults : consumer_defaults;
    size_t n_defaults = role == KAFKA_PRODUCER
                            ? sizeof(producer_defaults) / sizeof(producer_defaults[0])
                            : sizeof(consumer_defaults) / sizeof(consumer_defaults[0]);

    if (set(conf, "bootstrap.servers", brokers, errstr, errstr_size) ||
        set(conf, "client.id", role == KAFKA_PRODUCER ? "blotter-producer" : "blotter-consumer",
            errstr, errstr_size)) {
        goto fail;
    }
    for (size_t i = 0; i < n_defaults; i++) {
        if (set(conf, defaults[i][0], defaults[i][1], errstr, errstr_size)) {
            goto fail;
        }
    }
    /* A full fetch queue pauses fetching for fetch.queue.backoff.ms: a fixed second before
     * librdkafka 2.1 (issue #2879; Debian 12 ships 2.0.2), which bounds redelivery's speed.
     * Where the linked library has the property, a short pause lets a small queue keep up;
     * before, the property is Blotter's own (the consumer's fetch waker), checked here. */
    bool backoff_native = rd_kafka_version() >= FETCH_QUEUE_BACKOFF_SINCE;
    if (role == KAFKA_CONSUMER && backoff_native &&
        set(conf, "fetch.queue.backoff.ms", STR(FETCH_QUEUE_BACKOFF_MS), errstr, errstr_size)) {
        goto fail;
    }
    const char *backoff = backoff_env(envp);
    if (!backoff_native && backoff && backoff_ms_of(backoff) < 0) {
        /* In librdkafka's words, which read as a configuration error (exit 2, common/refused.c). */
        snprintf(errstr, errstr_size,
                 "Invalid value for configuration property \"fetch.queue.backoff.ms\" (%s=%s): "
                 "milliseconds from 0 to 300000",
                 FETCH_QUEUE_BACKOFF_ENV, backoff);
        goto fail;
    }

    /* Passthrough: BLOTTER_KAFKA_SASL_MECHANISMS=PLAIN -> sasl.mechanisms=PLAIN. */
    static const char prefix[] = "BLOTTER_KAFKA_";
    for (char **e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, prefix, sizeof(prefix) - 1) != 0 || !eq) {
            continue;
        }
        char prop[256];
        size_t plen = (size_t)(eq - *e) - (sizeof(prefix) - 1);
        if (plen == 0 || plen >= sizeof(prop)) {
            continue;
        }
        for (size_t i = 0; i < plen; i++) {
            char c = (*e)[sizeof(prefix) - 1 + i];
            prop[i] = c == '_' ? '.' : (char)tolower((unsigned char)c);
        }
        prop[plen] = '\0';
        if (strcmp(prop, "brokers") == 0 || !eq[1]) {
            continue; /* BLOTTER_KAFKA_BROKERS is bootstrap.servers; empty means unset */
        }
        if (strcmp(prop, "fetch.queue.backoff.ms") == 0 && !backoff_native) {
            continue; /* not librdkafka's before 2.1: the fetch waker's (checked above) */
        }
        char *value = NULL;
        if (plen > 5 && strcmp(prop + plen - 5, ".file") == 0) {
            prop[plen - 5] = '\0';
            char why[512];
            value = secret_read_file(eq + 1, why, sizeof(why));
            if (!value) {
                snprintf(errstr, errstr_size, "%.*s: %s", (int)(eq - *e), *e, why);
                goto fail;
            }
        } else {
            value = strdup(eq + 1);
        }
        if (strstr(prop, "password") || strstr(prop, "secret") || strstr(prop, "key")) {
            secret_register(value);
        }
        int rc = set(conf, prop, value, errstr, errstr_size);
        free(value);
        if (rc) {
            goto fail;
        }
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new takes conf only on success */
    }
    return rk;
}

void kafka_topic_incidents(char *buf, size_t n, const char *prefix, const char *city)
{
    snprintf(buf, n, "%s.incidents.%s", prefix, city);
}

void kafka_topic_state(char *buf, size_t n, const char *prefix)
{
    snprintf(buf, n, "%s.producer-state", prefix);
}

void kafka_topic_dlq(char *buf, size_t n, const char *prefix)
{
    snprintf(buf, n, "%s.dlq", prefix);
}

enum err_class kafka_ensure_topics(rd_kafka_t *rk, const struct kafka_topic_spec *specs, size_t n,
                                   int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_NewTopic_t **topics = calloc(n, sizeof(*topics));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_event_t *ev = NULL;
    enum err_class cls = ERR_OK;
    char why[512];

    if (!topics || !q || !opts) {
        err_set(errstr, errstr_size, "out of memory");
        cls = ERR_FATAL;
        goto done;
    }
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why, sizeof(why));
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why, sizeof(why));
    for (size_t i = 0; i < n; i++) {
        topics[i] = rd_kafka_NewTopic_new(specs[i].name, specs[i].partitions, specs[i].replication,
                                          why, sizeof(why));
        if (!topics[i]) {
            err_set(errstr, errstr_size, "topic %s: %s", specs[i].name, why);
            cls = ERR_FATAL;
            goto done;
        }
        if (specs[i].compact) {
            rd_kafka_NewTopic_set_config(topics[i], "cleanup.policy", "compact");
        }
    }
    rd_kafka_CreateTopics(rk, topics, n, opts, q);
    /* In slices, so that a refusal ends the wait at once. */
    for (int waited = 0; !ev && waited < timeout_ms + 2000; waited += 200) {
        if (kafka_refused(why, sizeof(why))) {
            err_set(errstr, errstr_size, "the broker refused the connection: %s", why);
            cls = ERR_FATAL;
            goto done;
        }
        ev = rd_kafka_queue_poll(q, 200);
    }
    if (!ev) {
        err_set(errstr, errstr_size, "creating topics: no answer within %d ms", timeout_ms);
        cls = ERR_TRANSIENT;
        goto done;
    }
    if (rd_kafka_event_error(ev)) {
        err_set(errstr, errstr_size, "creating topics: %s", rd_kafka_event_error_string(ev));
        cls = ERR_TRANSIENT;
        goto done;
    }
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n_res;
    const rd_kafka_topic_result_t **tres = rd_kafka_CreateTopics_result_topics(res, &n_res);
    for (size_t i = 0; i < n_res; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(tres[i]);
        if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            err_set(errstr, errstr_size, "creating topic %s: %s",
                    rd_kafka_topic_result_name(tres[i]),
                    rd_kafka_topic_result_error_string(tres[i]));
            cls = err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                          err == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR ||
                          err == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS ||
                          err == RD_KAFKA_RESP_ERR_POLICY_VIOLATION
                      ? ERR_FATAL
                      : ERR_TRANSIENT;
            break;
        }
    }
done:
    if (ev) {
        rd_kafka_event_destroy(ev);
    }
    if (topics) {
        for (size_t i = 0; i < n; i++) {
            if (topics[i]) {
                rd_kafka_NewTopic_destroy(topics[i]);
            }
        }
        free(topics);
    }
    if (opts) {
        rd_kafka_AdminOptions_destroy(opts);
    }
    if (q) {
        rd_kafka_queue_destroy(q);
    }
    return cls;
}

enum err_class kafka_err_class(rd_kafka_t *rk, rd_kafka_resp_err_t err)
{
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        return ERR_OK;
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL || (rk && rd_kafka_fatal_error(rk, NULL, 0))) {
        return ERR_FATAL;
    }
    switch (err) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return ERR_FATAL;
    default:
        return ERR_TRANSIENT;
    }
}
