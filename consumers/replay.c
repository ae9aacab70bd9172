#define _GNU_SOURCE
#include "consumers/replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kafka.h"
#include "common/timeutil.h"

struct replay_part {
    char *topic;
    int32_t partition;
    int64_t start, end, next; /* next: first offset not yet read */
};

struct replay {
    struct replay_part *parts;
    size_t n;
    rd_kafka_topic_partition_list_t *assignment;
};

void replay_destroy(struct replay *rp)
{
    if (!rp) {
        return;
    }
    for (size_t i = 0; i < rp->n; i++) {
        free(rp->parts[i].topic);
    }
    free(rp->parts);
    if (rp->assignment) {
        rd_kafka_topic_partition_list_destroy(rp->assignment);
    }
    free(rp);
}

static bool wanted_topic(const char *topic, const char *prefix, const char *const *cities,
                         size_t n_cities)
{
    char want[512];
    snprintf(want, sizeof(want), "%s.incidents.", prefix);
    size_t len = strlen(want);
    if (strncmp(topic, want, len) != 0 || !topic[len]) {
        return false;
    }
    if (n_cities == 0) {
        return true;
    }
    for (size_t i = 0; i < n_cities; i++) {
        if (strcmp(topic + len, cities[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* offsets_for_times on a copy of parts with every offset set to ts_ms; results into out[]. */
static enum err_class offsets_at(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                                 int64_t ts_ms, int timeout_ms, int64_t *out, char *errstr,
                                 size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_copy(parts);
    for (int i = 0; i < q->cnt; i++) {
        q->elems[i].offset = ts_ms;
    }
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, q, timeout_ms);
    enum err_class cls = ERR_OK;
    if (err) {
        err_set(errstr, errstr_size, "offsets_for_times: %s", rd_kafka_err2str(err));
        cls = kafka_err_class(rk, err);
        goto done;
    }
    for (int i = 0; i < q->cnt; i++) {
        if (q->elems[i].err) {
            err_set(errstr, errstr_size, "offsets_for_times %s[%d]: %s", q->elems[i].topic,
                    q->elems[i].partition, rd_kafka_err2str(q->elems[i].err));
            cls = kafka_err_class(rk, q->elems[i].err);
            goto done;
        }
        out[i] = q->elems[i].offset; /* -1 (OFFSET_END): no message at or after ts */
    }
done:
    rd_kafka_topic_partition_list_destroy(q);
    return cls;
}

enum err_class replay_plan(rd_kafka_t *rk, const char *prefix, const char *const *cities,
                           size_t n_cities, int64_t from_us, int64_t to_us, int timeout_ms,
                           struct replay **out, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_new(16);
    int64_t *starts = NULL, *ends = NULL;
    enum err_class cls = ERR_OK;
    struct replay *rp = calloc(1, sizeof(*rp));

    *out = NULL;
    if (!rp || !all) {
        err_set(errstr, errstr_size, "out of memory");
        cls = ERR_FATAL;
        goto done;
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (err) {
        err_set(errstr, errstr_size, "metadata: %s", rd_kafka_err2str(err));
        cls = kafka_err_class(rk, err);
        goto done;
    }
    for (int t = 0; t < md->topic_cnt; t++) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[t];
        if (mt->err || !wanted_topic(mt->topic, prefix, cities, n_cities)) {
            continue;
        }
        for (int p = 0; p < mt->partition_cnt; p++) {
            rd_kafka_topic_partition_list_add(all, mt->topic, mt->partitions[p].id);
        }
    }
    rd_kafka_topic_partition_list_sort(all, NULL, NULL);
    starts = calloc((size_t)all->cnt + 1, sizeof(*starts));
    ends = calloc((size_t)all->cnt + 1, sizeof(*ends));
    rp->parts = calloc((size_t)all->cnt + 1, sizeof(*rp->parts));
    rp->assignment = rd_kafka_topic_partition_list_new(all->cnt + 1);
    if (!starts || !ends || !rp->parts || !rp->assignment) {
        err_set(errstr, errstr_size, "out of memory");
        cls = ERR_FATAL;
        goto done;
    }
    if (all->cnt == 0) {
        *out = rp;
        rp = NULL;
        goto done;
    }
    if ((cls = offsets_at(rk, all, from_us / 1000, timeout_ms, starts, errstr, errstr_size))) {
        goto done;
    }
    if (to_us != TS_NULL &&
        (cls = offsets_at(rk, all, to_us / 1000, timeout_ms, ends, errstr, errstr_size))) {
        goto done;
    }
    for (int i = 0; i < all->cnt; i++) {
        int64_t lo, hi;
        err = rd_kafka_query_watermark_offsets(rk, all->elems[i].topic, all->elems[i].partition,
                                               &lo, &hi, timeout_ms);
        if (err) {
            err_set(errstr, errstr_size, "watermarks %s[%d]: %s", all->elems[i].topic,
                    all->elems[i].partition, rd_kafka_err2str(err));
            cls = kafka_err_class(rk, err);
            goto done;
        }
        int64_t end = to_us == TS_NULL || ends[i] < 0 ? hi : ends[i];
        int64_t start = starts[i] < 0 ? hi : starts[i];
        if (start < lo) {
            start = lo;
        }
        if (start >= end) {
            continue;
        }
        struct replay_part *rpp = &rp->parts[rp->n++];
        rpp->topic = strdup(all->elems[i].topic);
        rpp->partition = all->elems[i].partition;
        rpp->start = rpp->next = start;
        rpp->end = end;
        rd_kafka_topic_partition_list_add(rp->assignment, rpp->topic, rpp->partition)->offset =
            start;
    }
    *out = rp;
    rp = NULL;
done:
    if (md) {
        rd_kafka_metadata_destroy(md);
    }
    if (all) {
        rd_kafka_topic_partition_list_destroy(all);
    }
    free(starts);
    free(ends);
    replay_destroy(rp);
    return cls;
}

const rd_kafka_topic_partition_list_t *replay_assignment(const struct replay *rp)
{
    return rp->assignment;
}

static struct replay_part *find(const struct replay *rp, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < rp->n; i++) {
        if (rp->parts[i].partition == partition && strcmp(rp->parts[i].topic, topic) == 0) {
            return &rp->parts[i];
        }
    }
    return NULL;
}

bool replay_wants(const struct replay *rp, const char *topic, int32_t partition, int64_t offset)
{
    const struct replay_part *p = find(rp, topic, partition);
    return p && offset >= p->start && offset < p->end;
}

void replay_advance(struct replay *rp, const char *topic, int32_t partition, int64_t next_offset)
{
    struct replay_part *p = find(rp, topic, partition);
    if (p && next_offset > p->next) {
        p->next = next_offset;
    }
}

bool replay_finished(const struct replay *rp)
{
    for (size_t i = 0; i < rp->n; i++) {
        if (rp->parts[i].next < rp->parts[i].end) {
            return false;
        }
    }
    return true;
}

int64_t replay_total(const struct replay *rp)
{
    int64_t total = 0;
    for (size_t i = 0; i < rp->n; i++) {
        total += rp->parts[i].end - rp->parts[i].start;
    }
    return total;
}
