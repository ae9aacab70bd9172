/* Secret files: trailing newlines dropped, missing and oversized files refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/cmocka_all.h"

#include "common/log.h"
#include "common/secret.h"

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_read(void **state)
{
    (void)state;
    char path[] = "/tmp/blotter-secret-XXXXXX", err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "s3cret\r\n\n", 9);
    char *v = secret_read_file(path, err, sizeof(err));
    assert_string_equal(v, "s3cret");
    free(v);
    write_file(path, "", 0);
    v = secret_read_file(path, err, sizeof(err));
    assert_string_equal(v, "");
    free(v);
    char *big = malloc(9000);
    memset(big, 'k', 9000);
    write_file(path, big, 9000);
    free(big);
    assert_null(secret_read_file(path, err, sizeof(err)));
    assert_non_null(strstr(err, "longer than 8 KiB"));
    unlink(path);
    assert_null(secret_read_file(path, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read"));
}

/* A line holding s, as the logger prints it (logfmt, value quoted by LQ), after masking. */
static const char *masked(const char *s)
{
    static char line[1024];
    snprintf(line, sizeof(line), "error=%s", LQ(s));
    log_mask_secrets(line);
    return line;
}

static void test_mask_forms(void **state)
{
    (void)state;
    log_reset_secrets();
    /* A DSN whose password holds %, a space, a quote and a backslash, percent-encoded. */
    secret_register("postgresql://blotter:pa%25%20s%22w%5Cd@127.0.0.1:1/blotter?sslmode=require");
    /* libpq quotes the encoded password alone; others print it decoded or re-encoded. */
    assert_null(strstr(masked("invalid percent-encoded token: \"pa%25%20s%22w%5Cd\""), "pa%25"));
    assert_null(strstr(masked("password pa% s\"w\\d rejected"), "s\\\"w"));
    assert_non_null(strstr(masked("host 127.0.0.1 port 1"), "127.0.0.1"));
    /* A conninfo, quoted with escapes. */
    secret_register("host=127.0.0.1 password='it\\'s \\\\ x y' dbname=blotter");
    assert_null(strstr(masked("it's \\ x y"), "x y"));
    /* A base URL is not a secret, but its credentials are; the host stays readable. */
    secret_register_credentials(
        "https://reader:hunter2%21@data.example.org/x?$$app_token=TOKEN123&a=b");
    const char *m =
        masked("GET https://reader:hunter2%21@data.example.org/x?$$app_token=TOKEN123&a=b");
    assert_null(strstr(m, "hunter2"));
    assert_null(strstr(m, "TOKEN123"));
    assert_non_null(strstr(m, "data.example.org"));
    assert_null(strstr(masked("hunter2!"), "hunter2"));
    /* In place, for the process title. */
    char title[] = "--source-base-url=https://u:p%40ss@host/";
    assert_true(secret_url_mask_in_place(title));
    assert_string_equal(title, "--source-base-url=https://u:******@host/");
    char plain[] = "https://host/";
    assert_false(secret_url_mask_in_place(plain));
    log_reset_secrets();
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_read),
                                       cmocka_unit_test(test_mask_forms)};
    return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
