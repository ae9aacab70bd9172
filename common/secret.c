#include "common/secret.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define SECRET_MAX 8192

char *secret_read_file(const char *path, char *errstr, size_t errstr_size)
{
    char buf[SECRET_MAX + 1];
    FILE *f = fopen(path, "r");
    if (!f) {
        err_set(errstr, errstr_size, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || n > SECRET_MAX) {
        err_set(errstr, errstr_size, "%s: %s", path,
                failed ? "read error" : "longer than 8 KiB (not a secret file?)");
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }
    buf[n] = '\0';
    char *value = strdup(buf);
    if (!value) {
        err_set(errstr, errstr_size, "out of memory");
    }
    return value;
}
