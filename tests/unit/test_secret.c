/* Secret files: trailing newlines dropped, missing and oversized files refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/cmocka_all.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_read)};
    return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
