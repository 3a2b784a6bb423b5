/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/json.h"

#include <stdlib.h>

static void test_short(void **state) {
        (void) state;
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        struct json_writer w;
        json_init(&w, f, JSON_SHORT);
        json_begin_object(&w);
        json_kv_string(&w, "current", "1");
        json_key(&w, "all");
        json_begin_array(&w);
        json_string(&w, "2");
        json_string(&w, "a\"b\n");
        json_end_array(&w);
        json_kv_uint(&w, "n", 42);
        json_kv_uint_or_null(&w, "m", true, 7);
        json_kv_uint_or_null(&w, "o", false, 7);
        json_kv_bool(&w, "ok", true);
        json_kv_string(&w, "none", NULL);
        json_key(&w, "empty");
        json_begin_array(&w);
        json_end_array(&w);
        json_end_object(&w);
        json_finish(&w);
        fclose(f);
        assert_string_equal(buf, "{\"current\":\"1\",\"all\":[\"2\",\"a\\\"b\\n\"],\"n\":42,\"m\":7,\"o\":null,\"ok\":true,"
                                 "\"none\":null,\"empty\":[]}\n");
        free(buf);
}

static void test_pretty(void **state) {
        (void) state;
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        struct json_writer w;
        json_init(&w, f, JSON_PRETTY);
        json_begin_array(&w);
        json_begin_object(&w);
        json_kv_uint(&w, "a", 1);
        json_end_object(&w);
        json_end_array(&w);
        json_finish(&w);
        fclose(f);
        assert_string_equal(buf, "[\n\t{\n\t\t\"a\" : 1\n\t}\n]\n");
        free(buf);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_short),
                cmocka_unit_test(test_pretty),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
