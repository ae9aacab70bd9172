#include "common/secret.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"

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

/* ---- Masking: every form a secret may take in a line ---- */

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The text with %XX decoded, or NULL when it holds no valid %XX. */
static char *percent_decode(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    bool any = false;
    if (!out) {
        return NULL;
    }
    for (const char *p = s; *p; p++) {
        int hi, lo;
        if (*p == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            p += 2;
            any = true;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    if (!any) {
        free(out);
        return NULL;
    }
    return out;
}

/* Every byte but the unreserved ones as %XX (upper or lower-case hex). */
static char *percent_encode(const char *s, bool lower)
{
    const char *hex = lower ? "0123456789abcdef" : "0123456789ABCDEF";
    char *out = malloc(strlen(s) * 3 + 1), *o = out;
    if (!out) {
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* As a quoted log value holds it: LQ's escapes (json = false) or JSON's (json = true). */
static char *escape(const char *s, bool json)
{
    char *out = malloc(strlen(s) * 6 + 1), *o = out;
    if (!out) {
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p == '\n' && !json) {
            *o++ = '\\';
            *o++ = 'n';
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    return out;
}

static void register_escaped(const char *s)
{
    char *lq = escape(s, false), *js = escape(s, true);
    log_register_secret(s);
    log_register_secret(lq);
    log_register_secret(js);
    free(lq);
    free(js);
}

/* s[0..n) as it is, percent-decoded and percent-encoded, each also escaped as a log line
 * quotes it. */
static void register_forms(const char *s, size_t n)
{
    char *raw = strndup(s, n);
    if (!raw) {
        return;
    }
    char *forms[] = {raw, percent_decode(raw), percent_encode(raw, false),
                     percent_encode(raw, true)};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        if (forms[i]) {
            register_escaped(forms[i]);
            free(forms[i]);
        }
    }
}

/* Query parameters and conninfo keywords whose values are credentials. */
static bool secret_name(const char *k, size_t n)
{
    static const char *const marks[] = {"pass", "token", "secret",    "key",
                                        "auth", "sig",   "credential"};
    char low[64];
    if (n >= sizeof(low)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        low[i] = (char)tolower((unsigned char)k[i]);
    }
    low[n] = '\0';
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
        if (strstr(low, marks[i])) {
            return true;
        }
    }
    return false;
}

/* scheme://user:PASSWORD@host/...?name=VALUE&...: the password and every credential-named
 * parameter's value. */
static void register_url_parts(const char *v)
{
    const char *start = strstr(v, "://");
    if (!start) {
        return;
    }
    start += 3;
    const char *end = start + strcspn(start, "?#");
    const char *at = NULL;
    for (const char *p = start; p < end; p++) {
        if (*p == '@') {
            at = p; /* the last one: a password may hold an unencoded '@' */
        }
    }
    if (at) {
        const char *colon = memchr(start, ':', (size_t)(at - start));
        if (colon && at - colon > 1) {
            register_forms(colon + 1, (size_t)(at - colon - 1));
        }
    }
    if (*end != '?') {
        return;
    }
    for (const char *p = end + 1; *p && *p != '#';) {
        size_t len = strcspn(p, "&#");
        const char *eq = memchr(p, '=', len);
        if (eq && secret_name(p, (size_t)(eq - p)) && p + len - eq > 1) {
            register_forms(eq + 1, (size_t)(p + len - eq - 1));
        }
        p += len + (p[len] == '&');
    }
}

/* libpq conninfo: password=VALUE or password='VA\'LUE' (any credential-named keyword). */
static void register_conninfo_parts(const char *v)
{
    for (const char *p = v; *p;) {
        while (isspace((unsigned char)*p)) {
            p++;
        }
        if (!*p) {
            break;
        }
        const char *k = p;
        while (*p && *p != '=' && !isspace((unsigned char)*p)) {
            p++;
        }
        size_t klen = (size_t)(p - k);
        while (isspace((unsigned char)*p)) {
            p++;
        }
        if (*p != '=') {
            if (p == k) {
                p++;
            }
            continue;
        }
        p++;
        while (isspace((unsigned char)*p)) {
            p++;
        }
        const char *val = p;
        char *unq = malloc(strlen(p) + 1), *o = unq;
        if (*p == '\'') {
            for (p++; *p && *p != '\''; p++) {
                if (*p == '\\' && p[1]) {
                    p++;
                }
                if (o) {
                    *o++ = *p;
                }
            }
            if (*p) {
                p++;
            }
        } else {
            for (; *p && !isspace((unsigned char)*p); p++) {
                if (*p == '\\' && p[1]) {
                    p++;
                }
                if (o) {
                    *o++ = *p;
                }
            }
        }
        if (unq && secret_name(k, klen) && o > unq) {
            *o = '\0';
            register_forms(unq, strlen(unq));
            register_forms(val, (size_t)(p - val)); /* as written, quotes and escapes */
        }
        free(unq);
    }
}

void secret_register(const char *value)
{
    if (!value || !*value) {
        return;
    }
    register_forms(value, strlen(value));
    secret_register_credentials(value);
}

void secret_register_credentials(const char *value)
{
    if (!value || !*value) {
        return;
    }
    if (strstr(value, "://")) {
        register_url_parts(value);
    } else if (strchr(value, '=')) {
        register_conninfo_parts(value);
    }
}

bool secret_url_mask_in_place(char *value)
{
    char *start = strstr(value, "://");
    if (!start) {
        return false;
    }
    start += 3;
    char *end = start + strcspn(start, "?#"), *at = NULL;
    for (char *p = start; p < end; p++) {
        if (*p == '@') {
            at = p;
        }
    }
    char *colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
    if (!colon || at - colon < 2) {
        return false;
    }
    memset(colon + 1, '*', (size_t)(at - colon - 1));
    return true;
}
