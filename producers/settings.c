#include "producers/settings.h"

#include <string.h>

#include "common/timeutil.h"

int producer_settings_load(struct producer_settings *s, const struct config *cfg, FILE *err)
{
    int problems = 0;
    memset(s, 0, sizeof(*s));
    if (config_list_len(cfg, OPT_CITY) != 1) {
        fprintf(err, "blotter-producer: give exactly one --city (one producer per city)\n");
        problems++;
    } else {
        snprintf(s->city, sizeof(s->city), "%s", config_list_item(cfg, OPT_CITY, 0));
    }
    problems += service_settings_load(&s->svc, cfg, "blotter-producer", err);
    s->cities_dir = config_str(cfg, OPT_CITIES_DIR);
    s->base_url = config_str(cfg, OPT_SOURCE_BASE_URL);
    if (!s->base_url || !*s->base_url) {
        s->base_url = config_str(cfg, OPT_SOCRATA_BASE_URL); /* the older name */
    }
    s->app_token = config_str(cfg, OPT_SOCRATA_APP_TOKEN);
    s->page_size = (int)config_int(cfg, OPT_PAGE_SIZE);
    s->workers = (int)config_int(cfg, OPT_WORKERS);
    s->retry_max = (int)config_int(cfg, OPT_RETRY_MAX);
    s->poll_interval_s = config_int(cfg, OPT_POLL_INTERVAL_S);
    s->http_timeout_s = config_int(cfg, OPT_HTTP_TIMEOUT_S);
    s->limits = (struct source_limits){
        .max_response_bytes = config_int(cfg, OPT_MAX_RESPONSE_MB) << 20,
        .stall_s = config_int(cfg, OPT_STALL_S),
        .max_row_bytes = (size_t)config_int(cfg, OPT_MAX_ROW_BYTES),
        .max_field_bytes = (size_t)config_int(cfg, OPT_MAX_FIELD_BYTES),
        .max_json_depth = (int)config_int(cfg, OPT_MAX_JSON_DEPTH),
        .max_fields = (size_t)config_int(cfg, OPT_MAX_FIELDS),
    };
    s->once = config_bool(cfg, OPT_ONCE);
    s->since_us = config_time_us(cfg, OPT_SINCE);
    s->until_us = config_time_us(cfg, OPT_UNTIL);
    s->backfill = s->since_us != TS_NULL || s->until_us != TS_NULL;
    if (s->since_us != TS_NULL && s->until_us != TS_NULL && s->until_us <= s->since_us) {
        fprintf(err, "blotter-producer: --until must be after --since\n");
        problems++;
    }
    if (problems) {
        fprintf(err, "blotter-producer: %d configuration problem%s; see --help\n", problems,
                problems == 1 ? "" : "s");
    }
    return problems ? -1 : 0;
}
