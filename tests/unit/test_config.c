/* Configuration precedence (default < file < environment < flag), empty = unset, bad values,
 * secrets from files, --help. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/cmocka_all.h"

#include "common/config.h"
#include "common/log.h"
#include "common/timeutil.h"

static char *write_temp(const char *content)
{
    char *path = strdup("/tmp/blotter-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static enum config_result load(struct config *cfg, int argc, char **argv, char **envp,
                               char **errors)
{
    size_t n;
    FILE *err = open_memstream(errors, &n);
    FILE *out = fopen("/dev/null", "w");
    enum config_result r = config_load(cfg, argc, argv, envp, out, err);
    fclose(err);
    fclose(out);
    return r;
}

static void test_defaults(void **state)
{
    (void)state;
    struct config *cfg = config_new(P_CONSUMER, "test", "");
    char *argv[] = {"test", NULL};
    char *envp[] = {NULL};
    char *errors = NULL;
    assert_int_equal(load(cfg, 1, argv, envp, &errors), CONFIG_OK);
    assert_string_equal(config_str(cfg, OPT_TOPIC_PREFIX), "blotter");
    assert_int_equal(config_int(cfg, OPT_BATCH_SIZE), 5000);
    assert_false(config_bool(cfg, OPT_REPLAY));
    assert_false(config_is_set(cfg, OPT_TOPIC_PREFIX));
    assert_true(config_time_us(cfg, OPT_FROM) == TS_NULL);
    free(errors);
    config_destroy(cfg);
}

static void test_precedence(void **state)
{
    (void)state;
    char *file = write_temp("# comment\n"
                            "topic_prefix = fromfile\n"
                            "batch_size=100\n"
                            "log_level = debug\n"
                            "\n");
    char cfgarg[256];
    snprintf(cfgarg, sizeof(cfgarg), "--config=%s", file);
    struct config *cfg = config_new(P_CONSUMER, "test", "");
    char *argv[] = {"test", cfgarg, "--batch-size", "7", NULL};
    char *envp[] = {"BLOTTER_TOPIC_PREFIX=fromenv", "BLOTTER_BATCH_SIZE=50",
                    "BLOTTER_GROUP_ID=", /* empty = unset */
                    NULL};
    char *errors = NULL;
    assert_int_equal(load(cfg, 4, argv, envp, &errors), CONFIG_OK);
    assert_string_equal(config_str(cfg, OPT_TOPIC_PREFIX), "fromenv"); /* env beats file */
    assert_int_equal(config_int(cfg, OPT_BATCH_SIZE), 7);              /* flag beats env */
    assert_string_equal(config_str(cfg, OPT_LOG_LEVEL), "debug");      /* file beats default */
    assert_string_equal(config_str(cfg, OPT_GROUP_ID), "");
    assert_false(config_is_set(cfg, OPT_GROUP_ID));
    free(errors);
    config_destroy(cfg);

    /* BLOTTER_CONFIG names the file too. */
    char envcfg[300];
    snprintf(envcfg, sizeof(envcfg), "BLOTTER_CONFIG=%s", file);
    cfg = config_new(P_CONSUMER, "test", "");
    char *argv2[] = {"test", NULL};
    char *envp2[] = {envcfg, NULL};
    assert_int_equal(load(cfg, 1, argv2, envp2, &errors), CONFIG_OK);
    assert_string_equal(config_str(cfg, OPT_TOPIC_PREFIX), "fromfile");
    free(errors);
    config_destroy(cfg);
    unlink(file);
    free(file);
}

static void test_bad_values_all_reported(void **state)
{
    (void)state;
    struct config *cfg = config_new(P_CONSUMER, "test", "");
    char *argv[] = {"test", "--bogus", "--from", "yesterday", NULL};
    char *envp[] = {"BLOTTER_BATCH_SIZE=lots", "BLOTTER_LOG_LEVEL=loud", "BLOTTER_REPLAY=maybe",
                    "BLOTTER_TOPIC_PARTITIONS=0", NULL};
    char *errors = NULL;
    assert_int_equal(load(cfg, 4, argv, envp, &errors), CONFIG_EXIT_USAGE);
    assert_non_null(strstr(errors, "unknown argument '--bogus'"));
    assert_non_null(strstr(errors, "batch_size (from env): 'lots' is not an integer"));
    assert_non_null(strstr(errors, "log_level (from env): 'loud' is not one of"));
    assert_non_null(strstr(errors, "'yesterday' is not an ISO 8601 time"));
    assert_non_null(strstr(errors, "topic_partitions (from env): 0 is outside 1..1024"));
    assert_non_null(strstr(errors, "5 configuration problems"));
    free(errors);
    config_destroy(cfg);
}

static void test_flags_of_other_programs_refused(void **state)
{
    (void)state;
    struct config *cfg = config_new(P_PRODUCER, "test", "");
    char *argv[] = {"test", "--replay", NULL};
    char *envp[] = {NULL};
    char *errors = NULL;
    assert_int_equal(load(cfg, 2, argv, envp, &errors), CONFIG_EXIT_USAGE);
    assert_non_null(strstr(errors, "unknown argument '--replay'"));
    free(errors);
    config_destroy(cfg);
}

static void test_secret_from_file_and_redaction(void **state)
{
    (void)state;
    char *secret = write_temp("postgresql://u:s3cretpw@db/blotter\n");
    char env[300];
    snprintf(env, sizeof(env), "BLOTTER_PG_DSN_FILE=%s", secret);
    struct config *cfg = config_new(P_CONSUMER, "test", "");
    char *argv[] = {"test", NULL};
    char *envp[] = {env, NULL};
    char *errors = NULL;
    assert_int_equal(load(cfg, 1, argv, envp, &errors), CONFIG_OK);
    assert_string_equal(config_str(cfg, OPT_PG_DSN), "postgresql://u:s3cretpw@db/blotter");
    free(errors);

    /* The effective configuration never shows the secret, and neither does any log line. */
    char *logged = NULL;
    size_t n;
    FILE *mem = open_memstream(&logged, &n);
    FILE *saved = stderr;
    stderr = mem;
    config_log(cfg);
    log_emit(LOG_ERROR, "test", "dsn=%s", config_str(cfg, OPT_PG_DSN));
    stderr = saved;
    fclose(mem);
    assert_null(strstr(logged, "s3cretpw"));
    assert_non_null(strstr(logged, "<redacted>"));
    free(logged);
    log_reset_secrets();
    config_destroy(cfg);

    /* Both the value and the file: refused. Missing file: refused. */
    cfg = config_new(P_CONSUMER, "test", "");
    char *envp2[] = {"BLOTTER_PG_DSN=x", env, "BLOTTER_REDIS_URL_FILE=/nonexistent/file", NULL};
    assert_int_equal(load(cfg, 1, argv, envp2, &errors), CONFIG_EXIT_USAGE);
    assert_non_null(strstr(errors, "use one"));
    assert_non_null(strstr(errors, "/nonexistent/file"));
    free(errors);
    config_destroy(cfg);
    unlink(secret);
    free(secret);
}

static void test_list_and_help(void **state)
{
    (void)state;
    struct config *cfg = config_new(P_CONSUMER, "test", "");
    char *argv[] = {"test", "--city", "chicago", "--city=seattle,austin", NULL};
    char *envp[] = {"BLOTTER_CITY=nyc", NULL};
    char *errors = NULL;
    assert_int_equal(load(cfg, 4, argv, envp, &errors), CONFIG_OK);
    assert_int_equal(config_list_len(cfg, OPT_CITY), 3);
    assert_string_equal(config_list_item(cfg, OPT_CITY, 0), "chicago");
    assert_string_equal(config_list_item(cfg, OPT_CITY, 2), "austin");
    assert_null(config_list_item(cfg, OPT_CITY, 3));
    free(errors);
    config_destroy(cfg);

    cfg = config_new(P_PRODUCER, "blotter-producer", "Polls a city.");
    char *argv2[] = {"test", "--bogus", "--help", NULL};
    char *help = NULL;
    size_t n;
    FILE *out = open_memstream(&help, &n);
    assert_int_equal(config_load(cfg, 3, argv2, envp, out, stderr), CONFIG_EXIT_OK);
    fclose(out);
    assert_non_null(strstr(help, "--socrata-app-token"));
    assert_non_null(strstr(help, "BLOTTER_SOCRATA_APP_TOKEN or ..._FILE"));
    assert_null(strstr(help, "--replay")); /* a consumer flag */
    free(help);
    config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_bad_values_all_reported),
        cmocka_unit_test(test_flags_of_other_programs_refused),
        cmocka_unit_test(test_secret_from_file_and_redaction),
        cmocka_unit_test(test_list_and_help),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
