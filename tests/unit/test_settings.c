/* Each program's typed settings: filled once from the option table, with the checks across
 * options that make a usage error (exit 2). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "common/timeutil.h"
#include "consumers/settings.h"
#include "producers/settings.h"

static struct config *loaded(unsigned prog, int argc, char **argv)
{
    char *envp[] = {NULL};
    FILE *devnull = fopen("/dev/null", "w");
    struct config *cfg = config_new(prog, "test", "");
    assert_int_equal(config_load(cfg, argc, argv, envp, devnull, devnull), CONFIG_OK);
    fclose(devnull);
    return cfg;
}

/* Load settings; returns the function's result, the problems in *errors (caller frees). */
static int producer(struct producer_settings *s, int argc, char **argv, char **errors)
{
    size_t n;
    struct config *cfg = loaded(P_PRODUCER, argc, argv);
    FILE *err = open_memstream(errors, &n);
    int rc = producer_settings_load(s, cfg, err);
    fclose(err);
    config_destroy(cfg);
    return rc;
}

static int consumer(struct consumer_settings *s, int argc, char **argv, char **errors)
{
    size_t n;
    struct config *cfg = loaded(P_CONSUMER, argc, argv);
    FILE *err = open_memstream(errors, &n);
    int rc = consumer_settings_load(s, cfg, 1700000000, err);
    fclose(err);
    config_destroy(cfg);
    return rc;
}

static void test_producer(void **state)
{
    (void)state;
    struct producer_settings s;
    char *errors = NULL;
    char *ok[] = {"t", "--city", "chicago", "--since", "2024-01-01", "--page-size", "100", NULL};
    assert_int_equal(producer(&s, 7, ok, &errors), 0);
    assert_string_equal(s.city, "chicago");
    assert_int_equal(s.page_size, 100);
    assert_true(s.backfill);
    assert_true(s.since_us == iso8601_to_us("2024-01-01"));
    assert_true(s.until_us == TS_NULL);
    assert_int_equal(s.workers, 2);
    free(errors);

    char *none[] = {"t", NULL};
    assert_int_equal(producer(&s, 1, none, &errors), -1);
    assert_non_null(strstr(errors, "exactly one --city"));
    free(errors);

    char *two[] = {"t", "--city", "a", "--city", "b", NULL};
    assert_int_equal(producer(&s, 5, two, &errors), -1);
    free(errors);

    /* --until before --since is a usage error, like the consumer's --to before --from */
    char *order[] = {"t", "--city", "x", "--since", "2024-02-01", "--until", "2024-01-01", NULL};
    assert_int_equal(producer(&s, 7, order, &errors), -1);
    assert_non_null(strstr(errors, "--until must be after --since"));
    free(errors);

    char *listen[] = {"t", "--city", "x", "--http-listen", "localhost", NULL};
    assert_int_equal(producer(&s, 5, listen, &errors), -1);
    assert_non_null(strstr(errors, "http_listen"));
    free(errors);
}

static void test_consumer(void **state)
{
    (void)state;
    struct consumer_settings s;
    char *errors = NULL;
    char *ok[] = {"t", "--city", "chicago", "--city", "nyc,seattle", "--topic-prefix", "p", NULL};
    assert_int_equal(consumer(&s, 7, ok, &errors), 0);
    assert_int_equal(s.n_cities, 3);
    assert_string_equal(s.cities[2], "seattle");
    assert_string_equal(s.group, "p.warehouse");
    assert_false(s.replay);
    free(errors);

    char *replay[] = {"t", "--replay", "--from", "2024-01-01T00:00:00Z", NULL};
    assert_int_equal(consumer(&s, 4, replay, &errors), 0);
    assert_string_equal(s.group, "blotter.warehouse.replay.1700000000");
    free(errors);

    static char nope[] = "http://nope"; /* writable: the parser masks secrets in argv */
    char *done[] = {"t", "--until-idle", "30", "--until-idle-max", "21600", NULL};
    assert_int_equal(consumer(&s, 5, done, &errors), 0);
    assert_int_equal(s.until_idle_s, 30);
    assert_int_equal(s.until_idle_max_s, 21600);
    free(errors);
    char *replay_bounded[] = {"t",  "--replay", "--from", "2024-01-01", "--until-idle-max",
                              "60", NULL};
    assert_int_equal(consumer(&s, 6, replay_bounded, &errors), 0);
    assert_int_equal(s.until_idle_max_s, 60);
    free(errors);

    static char *bad[][8] = {
        {"t", "--replay", NULL},             /* no --from */
        {"t", "--from", "2024-01-01", NULL}, /* --from without --replay */
        {"t", "--replay", "--from", "2024-02-01", "--to", "2024-01-01", NULL}, /* --to first */
        {"t", "--redis-url", nope, NULL},
        {"t", "--http-listen", "9100", NULL},  /* not host:port */
        {"t", "--until-idle-max", "60", NULL}, /* a bound on nothing */
        {"t", "--until-idle", "60", "--until-idle-max", "30", NULL},
    };
    static const char *why[] = {
        "needs --from", "only go with --replay",          "--to must be after",   "redis_url",
        "http_listen",  "needs --until-idle or --replay", "at least --until-idle"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int argc = 0;
        while (bad[i][argc]) {
            argc++;
        }
        assert_int_equal(consumer(&s, argc, bad[i], &errors), -1);
        assert_non_null(strstr(errors, why[i]));
        free(errors);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_producer),
        cmocka_unit_test(test_consumer),
    };
    return cmocka_run_group_tests_name("settings", tests, NULL, NULL);
}
