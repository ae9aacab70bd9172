/* Page arenas for jansson: values read in one thread and released in others; the blocks go
 * back when the last value goes; outside an arena jansson allocates as before. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "producers/arcgis.h"
#include "producers/jarena.h"

static json_t *read_page(struct jarena *a, int rows)
{
    jarena_enter(a);
    json_t *page = json_array();
    for (int i = 0; i < rows; i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"EVENT_UNIQUE_ID\":\"GO-%d\",\"OCC_HOUR\":%d,\"LAT\":43.7,\"OFFENCE\":\"B&E\"}",
                 i, i % 24);
        json_array_append_new(page, json_loads(text, 0, NULL));
    }
    jarena_leave();
    return page;
}

static void *release_rows(void *arg)
{
    json_t *rows = arg; /* a reference of this thread's own to each row */
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_object_set_new(row, "::repeat", json_integer(2)); /* a heap value in an arena row */
        json_decref(row);
    }
    json_decref(rows);
    return NULL;
}

static void test_values_released_elsewhere_return_the_blocks(void **state)
{
    (void)state;
    size_t before = jarena_blocks_live();
    struct jarena *a = jarena_new();
    assert_non_null(a);
    json_t *page = read_page(a, 20000); /* several blocks */
    jarena_release(a);                  /* the values keep it */
    assert_true(jarena_blocks_live() > before + 1);
    assert_int_equal(json_array_size(page), 20000);
    assert_string_equal(json_string_value(json_object_get(json_array_get(page, 7), "OFFENCE")),
                        "B&E");

    json_t *half = json_array(); /* the worker's references */
    for (size_t i = 0; i < json_array_size(page); i += 2) {
        json_array_append(half, json_array_get(page, i));
    }
    json_decref(page); /* the odd rows go here; the even ones live on in the worker */
    assert_true(jarena_blocks_live() > before);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_rows, half), 0);
    pthread_join(t, NULL);
    assert_int_equal(jarena_blocks_live(), before);
}

static void test_outside_an_arena_malloc_as_before(void **state)
{
    (void)state;
    size_t total = jarena_blocks_total();
    json_t *o = json_pack("{s:s, s:i}", "a", "b", "c", 1);
    char *text = json_dumps(o, JSON_COMPACT); /* callers free() it */
    assert_string_equal(text, "{\"a\":\"b\",\"c\":1}");
    free(text);
    json_decref(o);
    assert_int_equal(jarena_blocks_total(), total);

    /* In an arena, a value larger than a block's eighth comes from malloc too. */
    struct jarena *a = jarena_new();
    jarena_enter(a);
    size_t big = 300000;
    char *s = malloc(big);
    memset(s, 'x', big - 1);
    s[big - 1] = 0;
    json_t *v = json_string(s);
    jarena_leave();
    free(s);
    assert_int_equal(json_string_length(v), big - 1);
    jarena_release(a);
    json_decref(v);
    assert_int_equal(jarena_blocks_live(), 0);
}

static void test_an_empty_arena_goes_with_its_hold(void **state)
{
    (void)state;
    struct jarena *a = jarena_new();
    assert_non_null(a);
    jarena_release(a);
    jarena_release(NULL);
    assert_int_equal(jarena_blocks_live(), 0);
}

/* What is read in an arena never hands malloc's free() a value of the arena: an ArcGIS error
 * envelope's details are written into the caller's buffer, not json_dumps' text. */
static void test_an_error_page_read_in_an_arena(void **state)
{
    (void)state;
    static const char body[] =
        "{\"error\":{\"code\":400,\"message\":\"Unable to complete operation.\","
        "\"details\":[\"this server knows where=1=1 only\"]}}";
    char err[256];
    struct arcgis_page page;
    struct jarena *a = jarena_new();
    jarena_enter(a);
    enum err_class cls = arcgis_page_parse(body, sizeof(body) - 1, &page, err, sizeof(err));
    jarena_leave();
    jarena_release(a);
    assert_int_equal(cls, ERR_FATAL);
    assert_string_equal(err, "ArcGIS error 400: Unable to complete operation. (details [\"this "
                             "server knows where=1=1 only\"])");
    arcgis_page_clear(&page);
    assert_int_equal(jarena_blocks_live(), 0);
}

int main(void)
{
    jarena_install(); /* before jansson allocates anything */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_released_elsewhere_return_the_blocks),
        cmocka_unit_test(test_outside_an_arena_malloc_as_before),
        cmocka_unit_test(test_an_empty_arena_goes_with_its_hold),
        cmocka_unit_test(test_an_error_page_read_in_an_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
