/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/scheduler.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

/* Local time of today at h:m (TZ is fixed to UTC in main, so no DST gaps). */
static time_t at(int h, int m) {
        struct tm tm = { .tm_year = 126, .tm_mon = 5, .tm_mday = 15, .tm_hour = h, .tm_min = m, .tm_isdst = -1 };
        return mktime(&tm);
}

static void test_parse_duration(void **state) {
        (void) state;
        static const struct { const char *s; uint64_t v; } good[] = {
                { "90", 90 }, { "1d", 86400 }, { "1h30min", 5400 }, { "2h", 7200 }, { "45s", 45 }, { "5m", 300 },
                { "1h30", 3630 },
        };
        uint64_t v;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                assert_int_equal(schedule_parse_duration(good[i].s, &v), 0);
                assert_int_equal(v, good[i].v);
        }
        const char *bad[] = { "", "0", "h", "-1", "1x", "10 s", "5ms", "1h-1", "99999999999999999999" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(schedule_parse_duration(bad[i], &v), -EINVAL);
}

static void test_parse_window(void **state) {
        (void) state;
        int a, b;
        assert_int_equal(schedule_parse_window("03:00-05:30", &a, &b), 0);
        assert_int_equal(a, 180);
        assert_int_equal(b, 330);
        assert_int_equal(schedule_parse_window("23:00-01:00", &a, &b), 0);
        assert_int_equal(a, 1380);
        assert_int_equal(b, 60);
        assert_int_equal(schedule_parse_window("00:00-24:00", &a, &b), 0);
        assert_int_equal(b, 1440);
        const char *bad[] = { "03:00", "3:00-5:00", "03:00-03:00", "24:00-01:00", "25:00-26:00", "03:60-04:00",
                              "03:00-04:00x", "03:00-", "-04:00", "a3:00-04:00", "24:01-01:00" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(schedule_parse_window(bad[i], &a, &b), -EINVAL);
}

static void test_window(void **state) {
        (void) state;
        struct schedule s = { .window_start = 180, .window_end = 300 };
        assert_false(schedule_in_window(&s, at(2, 59)));
        assert_true(schedule_in_window(&s, at(3, 0)));
        assert_true(schedule_in_window(&s, at(4, 59)));
        assert_false(schedule_in_window(&s, at(5, 0)));
        assert_true(schedule_window_open(&s, at(3, 30)) == at(3, 30));
        assert_true(schedule_window_open(&s, at(1, 0) + 17) == at(3, 0));
        assert_true(schedule_window_open(&s, at(6, 0)) == at(3, 0) + 86400);

        struct schedule night = { .window_start = 23 * 60, .window_end = 60 };
        assert_true(schedule_in_window(&night, at(23, 30)));
        assert_true(schedule_in_window(&night, at(0, 30)));
        assert_false(schedule_in_window(&night, at(1, 0)));
        assert_false(schedule_in_window(&night, at(22, 59)));
        assert_true(schedule_window_open(&night, at(12, 0)) == at(23, 0));

        struct schedule always = { .window_start = 0, .window_end = 1440 };
        assert_true(schedule_in_window(&always, at(0, 0)));
        assert_true(schedule_in_window(&always, at(23, 59)));

        struct schedule none = { .window_start = -1, .window_end = -1 };
        assert_false(schedule_in_window(&none, at(3, 0)));
        assert_true(schedule_window_open(&none, at(3, 0)) == (time_t) -1);
}

static void test_next_check(void **state) {
        (void) state;
        struct schedule s = { .interval = 86400 };
        time_t now = at(12, 0);
        /* never ran: now, plus the delay */
        assert_true(schedule_next_check(&s, 0, now, 0) == now);
        assert_true(schedule_next_check(&s, 0, now, 600) == now + 600);
        /* ran an hour ago: a day after that */
        assert_true(schedule_next_check(&s, now - 3600, now, 0) == now - 3600 + 86400);
        assert_true(schedule_next_check(&s, now - 3600, now, 60) == now - 3600 + 86400 + 60);
        /* missed while off (Persistent=): now */
        assert_true(schedule_next_check(&s, now - 3 * 86400, now, 0) == now);
}

int main(void) {
        setenv("TZ", "UTC", 1);
        tzset();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_duration),
                cmocka_unit_test(test_parse_window),
                cmocka_unit_test(test_window),
                cmocka_unit_test(test_next_check),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
