#include "consumers/settings.h"

#include <string.h>

#include "common/timeutil.h"
#include "consumers/seen.h"

static int check(const struct consumer_settings *s, FILE *err)
{
    int problems = 0;
    if (s->replay && s->from_us == TS_NULL) {
        fprintf(err, "blotter-consumer: --replay needs --from ISO8601\n");
        problems++;
    }
    if (!s->replay && (s->from_us != TS_NULL || s->to_us != TS_NULL)) {
        fprintf(err, "blotter-consumer: --from/--to only go with --replay\n");
        problems++;
    }
    if (s->from_us != TS_NULL && s->to_us != TS_NULL && s->to_us <= s->from_us) {
        fprintf(err, "blotter-consumer: --to must be after --from\n");
        problems++;
    }
    if (s->until_idle_max_s && !s->until_idle_s && !s->replay) {
        fprintf(err, "blotter-consumer: --until-idle-max needs --until-idle or --replay\n");
        problems++;
    }
    if (s->until_idle_max_s && s->until_idle_max_s < s->until_idle_s) {
        fprintf(err, "blotter-consumer: --until-idle-max must be at least --until-idle\n");
        problems++;
    }
    if (!*s->pg_dsn) {
        fprintf(err, "blotter-consumer: pg_dsn is empty\n");
        problems++;
    }
    struct redis_url u;
    if (*s->redis_url) {
        if (redis_url_parse(s->redis_url, &u) != 0) {
            fprintf(err, "blotter-consumer: redis_url is not redis://[[user]:password@]host"
                         "[:port][/db]\n");
            problems++;
        } else {
            redis_url_clear(&u);
        }
    }
    return problems;
}

int consumer_settings_load(struct consumer_settings *s, const struct config *cfg, int64_t now_s,
                           FILE *err)
{
    int problems = 0;
    memset(s, 0, sizeof(*s));
    problems += service_settings_load(&s->svc, cfg, "blotter-consumer", err);
    s->n_cities = config_list_len(cfg, OPT_CITY);
    if (s->n_cities > CONSUMER_MAX_CITIES) {
        fprintf(err, "blotter-consumer: at most %d --city\n", CONSUMER_MAX_CITIES);
        s->n_cities = CONSUMER_MAX_CITIES;
        problems++;
    }
    for (size_t i = 0; i < s->n_cities; i++) {
        snprintf(s->cities[i], sizeof(s->cities[i]), "%s", config_list_item(cfg, OPT_CITY, i));
    }
    s->pg_dsn = config_str(cfg, OPT_PG_DSN);
    s->owner_pg_dsn = config_str(cfg, OPT_OWNER_PG_DSN);
    s->redis_url = config_str(cfg, OPT_REDIS_URL);
    s->batch_size = config_int(cfg, OPT_BATCH_SIZE);
    s->batch_timeout_ms = config_int(cfg, OPT_BATCH_TIMEOUT_MS);
    s->until_idle_s = config_int(cfg, OPT_UNTIL_IDLE_S);
    s->until_idle_max_s = config_int(cfg, OPT_UNTIL_IDLE_MAX_S);
    s->group_instance_id = config_str(cfg, OPT_GROUP_INSTANCE_ID);
    s->seen_buckets = (uint32_t)config_int(cfg, OPT_SEEN_BUCKETS);
    s->replay = config_bool(cfg, OPT_REPLAY);
    s->from_us = config_time_us(cfg, OPT_FROM);
    s->to_us = config_time_us(cfg, OPT_TO);
    if (*config_str(cfg, OPT_GROUP_ID)) {
        snprintf(s->group, sizeof(s->group), "%s", config_str(cfg, OPT_GROUP_ID));
    } else {
        snprintf(s->group, sizeof(s->group), "%.200s.warehouse", s->svc.topic_prefix);
    }
    if (s->replay) { /* a group of its own: the live group's offsets are never touched */
        size_t len = strlen(s->group);
        snprintf(s->group + len, sizeof(s->group) - len, ".replay.%lld", (long long)now_s);
    }
    problems += check(s, err);
    if (problems) {
        fprintf(err, "blotter-consumer: configuration problems; see --help\n");
    }
    return problems ? -1 : 0;
}
