/* One JSON row's text parsed N times by one parser (chosen when compiling: -DWITH_JANSSON,
 * -DWITH_JSONC, -DWITH_CJSON or -DWITH_YAJL), a field read back each time, the tree freed.
 * Prints the CPU microseconds per row. Built and run by bench/parsers.sh.
 *   parse FILE N */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(WITH_JANSSON)
#include <jansson.h>
#define NAME "jansson"
static size_t parse_once(const char *text, size_t len)
{
    json_error_t err;
    json_t *o = json_loadb(text, len, JSON_ALLOW_NUL, &err); /* as producers/rowsplit.c */
    size_t n = o ? strlen(json_string_value(json_object_get(o, "case_number"))) : 0;
    json_decref(o);
    return n;
}
#elif defined(WITH_JSONC)
#include <json-c/json.h>
#define NAME "json-c"
static size_t parse_once(const char *text, size_t len)
{
    static json_tokener *tok;
    if (!tok && !(tok = json_tokener_new())) {
        return 0;
    }
    json_tokener_reset(tok);
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)len), *v = NULL;
    size_t n = o && json_object_object_get_ex(o, "case_number", &v)
                   ? strlen(json_object_get_string(v))
                   : 0;
    json_object_put(o);
    return n;
}
#elif defined(WITH_CJSON)
#include <cjson/cJSON.h>
#define NAME "cJSON"
static size_t parse_once(const char *text, size_t len)
{
    cJSON *o = cJSON_ParseWithLength(text, len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "case_number");
    size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    cJSON_Delete(o);
    return n;
}
#elif defined(WITH_YAJL)
#include <yajl/yajl_tree.h>
#define NAME "yajl"
static size_t parse_once(const char *text, size_t len)
{
    (void)len; /* yajl_tree_parse reads up to the terminating NUL */
    static const char *path[] = {"case_number", NULL};
    yajl_val o = yajl_tree_parse(text, NULL, 0);
    yajl_val v = o ? yajl_tree_get(o, path, yajl_t_string) : NULL;
    size_t n = v ? strlen(YAJL_GET_STRING(v)) : 0;
    yajl_tree_free(o);
    return n;
}
#else
#error "choose a parser: -DWITH_JANSSON, -DWITH_JSONC, -DWITH_CJSON or -DWITH_YAJL"
#endif

static double cpu_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    static char text[1 << 16];
    FILE *f = argc == 3 ? fopen(argv[1], "r") : NULL;
    if (!f) {
        fprintf(stderr, "usage: parse FILE N\n");
        return 2;
    }
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) {
        len--;
    }
    text[len] = 0;
    long n = atol(argv[2]);
    size_t check = parse_once(text, len); /* warm, and the field must be there */
    if (check == 0 || n <= 0) {
        fprintf(stderr, "%s: the row did not parse, or has no case_number\n", NAME);
        return 1;
    }
    double t0 = cpu_us();
    for (long i = 0; i < n; i++) {
        check += parse_once(text, len);
    }
    printf("%-8s %8.2f us/row\n", NAME, (cpu_us() - t0) / (double)n);
    return check == 0;
}
