/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/resource.h"
#include "sysupdate/transfer.h"
#include "agent/updateset.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>

/* Every version_compare() made by the library passes through here (-Wl,--wrap in meson.build). */
int __real_version_compare(const char *a, const char *b);
int __wrap_version_compare(const char *a, const char *b);
static size_t compares;
int __wrap_version_compare(const char *a, const char *b) {
        compares++;
        return __real_version_compare(a, b);
}

/* A resource holding the given versions (newest first, as resource_load() sorts them). */
static struct resource *res(const char *const *versions) {
        struct resource *r = calloc(1, sizeof(*r));
        assert_non_null(r);
        r->path = strdup("/test");
        for (size_t i = 0; versions && versions[i]; i++) {
                struct instance_metadata m;
                instance_metadata_init(&m);
                m.version = strdup(versions[i]);
                assert_int_equal(resource_add_instance(r, versions[i], versions[i], &m), 0);
        }
        return r;
}

#define V(...) ((const char *const[]) { __VA_ARGS__, NULL })

struct fixture {
        struct transfer t[2];
        struct transfer *tp[2];
        struct resource *targets[2], *sources[2];
        struct update_sets *s;
};

static void setup(struct fixture *f, const char *const *inst0, const char *const *inst1, const char *const *avail0,
                  const char *const *avail1) {
        memset(f, 0, sizeof(*f));
        f->tp[0] = &f->t[0];
        f->tp[1] = &f->t[1];
        f->targets[0] = res(inst0);
        f->targets[1] = res(inst1);
        f->sources[0] = res(avail0);
        f->sources[1] = res(avail1);
}

static void discover(struct fixture *f, bool sources) {
        assert_int_equal(update_sets_discover(f->tp, f->targets, sources ? f->sources : NULL, 2, &f->s), 0);
}

static void teardown(struct fixture *f) {
        update_sets_free(f->s);
        for (size_t i = 0; i < 2; i++) {
                resource_free(f->targets[i]);
                resource_free(f->sources[i]);
        }
}

static void test_candidate(void **state) {
        (void) state;
        struct fixture f;
        setup(&f, V("1"), V("1"), V("2", "1"), V("2", "1"));
        discover(&f, true);
        assert_int_equal(f.s->n_sets, 2);
        assert_string_equal(f.s->sets[0]->version, "2");
        assert_ptr_equal(f.s->candidate, f.s->sets[0]);
        assert_ptr_equal(f.s->newest_installed, f.s->sets[1]);
        assert_string_equal(update_set_assessment(f.s->sets[0]->flags), "candidate");
        assert_string_equal(update_set_assessment(f.s->sets[1]->flags), "current");
        assert_true(f.s->sets[1]->flags & UPDATE_AVAILABLE);
        assert_ptr_equal(f.s->sets[0]->available[1], f.sources[1]->instances[0]);
        assert_null(f.s->sets[0]->installed[0]);
        assert_ptr_equal(f.s->sets[1]->installed[0], f.targets[0]->instances[0]);
        teardown(&f);
}

static void test_offline(void **state) {
        (void) state;
        struct fixture f;
        setup(&f, V("2", "1"), V("2", "1"), V("3"), V("3"));
        discover(&f, false);
        assert_int_equal(f.s->n_sets, 2);
        assert_null(f.s->candidate);
        assert_string_equal(update_set_assessment(f.s->sets[0]->flags), "current");
        assert_string_equal(update_set_assessment(f.s->sets[1]->flags), "installed");
        teardown(&f);
}

static void test_incomplete_installed_is_kept_and_repaired(void **state) {
        (void) state;
        struct fixture f;
        /* 2 made it into the first target only (a crash between the commits) */
        setup(&f, V("2", "1"), V("1"), V("2", "1"), V("2", "1"));
        discover(&f, true);
        assert_int_equal(f.s->n_sets, 2);
        struct update_set *two = f.s->sets[0];
        assert_true(two->flags & UPDATE_INSTALLED);
        assert_true(two->flags & UPDATE_INCOMPLETE);
        assert_ptr_equal(f.s->newest_installed, two);
        assert_ptr_equal(f.s->candidate, two);
        assert_null(two->installed[1]);
        assert_non_null(two->available[1]);
        assert_string_equal(update_set_assessment(two->flags), "current+incomplete");
        teardown(&f);
}

static void test_newest_complete(void **state) {
        (void) state;
        struct fixture f;
        /* 3 has its data only, 2 its boot entry only: 1 is what a reboot brings up */
        setup(&f, V("3", "1"), V("2", "1"), NULL, NULL);
        discover(&f, false);
        assert_string_equal(f.s->newest_installed->version, "3");
        const struct update_set *u = update_sets_newest_complete(f.s);
        assert_non_null(u);
        assert_string_equal(u->version, "1");
        teardown(&f);

        setup(&f, V("2"), V("1"), NULL, NULL);
        discover(&f, false);
        assert_null(update_sets_newest_complete(f.s));
        teardown(&f);
}

static void test_incomplete_at_source_is_never_offered(void **state) {
        (void) state;
        struct fixture f;
        /* the server lists 3 for one transfer only */
        setup(&f, V("1"), V("1"), V("3", "2", "1"), V("2", "1"));
        discover(&f, true);
        assert_non_null(f.s->candidate);
        assert_string_equal(f.s->candidate->version, "2");
        assert_null(update_sets_find(f.s, "3"));
        teardown(&f);
}

static void test_no_downgrade(void **state) {
        (void) state;
        struct fixture f;
        setup(&f, V("3"), V("3"), V("2"), V("2"));
        discover(&f, true);
        assert_null(f.s->candidate);
        assert_string_equal(update_set_assessment(update_sets_find(f.s, "2")->flags), "available");
        teardown(&f);
}

static void test_obsolete_and_protected(void **state) {
        (void) state;
        struct fixture f;
        setup(&f, V("2", "1"), V("2", "1"), V("3", "2"), V("3", "2"));
        f.t[0].min_version = (char *) "4";
        char *protect[] = { (char *) "1", NULL };
        f.t[1].protect_versions = protect;
        discover(&f, true);
        assert_null(f.s->candidate);
        assert_string_equal(update_set_assessment(update_sets_find(f.s, "3")->flags), "available+obsolete");
        assert_string_equal(update_set_assessment(update_sets_find(f.s, "2")->flags), "current+obsolete");
        assert_string_equal(update_set_assessment(update_sets_find(f.s, "1")->flags), "protected+obsolete");
        teardown(&f);

        setup(&f, V("1"), V("1"), V("3", "2"), V("3", "2"));
        f.t[0].max_version = (char *) "2";
        discover(&f, true);
        assert_string_equal(f.s->candidate->version, "2");
        teardown(&f);
}

static void test_find(void **state) {
        (void) state;
        struct fixture f;
        setup(&f, V("1.0"), V("1.0"), NULL, NULL);
        discover(&f, false);
        assert_non_null(update_sets_find(f.s, "1.0"));
        assert_ptr_equal(update_sets_find(f.s, "01.0"), update_sets_find(f.s, "1.0"));
        assert_null(update_sets_find(f.s, "2"));
        teardown(&f);
}

static void test_empty(void **state) {
        (void) state;
        struct fixture f;
        setup(&f, NULL, NULL, NULL, NULL);
        discover(&f, true);
        assert_int_equal(f.s->n_sets, 0);
        assert_null(f.s->candidate);
        assert_null(f.s->newest_installed);
        assert_string_equal(update_set_assessment(0), "n/a");
        teardown(&f);
}

/* "1".."n" newest first, as resource_load() sorts them; every step-th one only. */
static char **versions(size_t n, size_t step) {
        char **v = calloc(n + 1, sizeof(char *));
        assert_non_null(v);
        size_t k = 0;
        for (size_t i = n; i >= 1; i--)
                if (i % step == 0)
                        assert_int_not_equal(asprintf(&v[k++], "%zu", i), -1);
        return v;
}

/* A big manifest (4 MiB is about 24000 versions of two transfers) made discovery quadratic:
 * it walked every resource from its newest instance again for each version. The number of
 * comparisons must grow with the number of instances, not with its square. */
static void test_linear_in_versions(void **state) {
        (void) state;
        const size_t n = 4000;
        char **all = versions(n, 1), **some = versions(n, 3);
        struct fixture f;
        setup(&f, (const char *const *) some, (const char *const *) some, (const char *const *) all,
              (const char *const *) all);
        compares = 0;
        discover(&f, true);
        assert_int_equal(f.s->n_sets, n);
        assert_string_equal(f.s->candidate->version, "4000");
        assert_true(f.s->sets[n - 3]->flags & UPDATE_INSTALLED); /* "3" */
        assert_true(f.s->sets[n - 3]->flags & UPDATE_AVAILABLE);
        assert_false(f.s->sets[n - 2]->flags & UPDATE_INSTALLED); /* "2" */
        /* About 40 per version here (binary searches, the final sort); quadratic was ~4000. */
        assert_in_range(compares, n, 100 * n);
        teardown(&f);
        for (size_t i = 0; all[i]; i++)
                free(all[i]);
        for (size_t i = 0; some[i]; i++)
                free(some[i]);
        free(all);
        free(some);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_candidate),
                cmocka_unit_test(test_offline),
                cmocka_unit_test(test_incomplete_installed_is_kept_and_repaired),
                cmocka_unit_test(test_newest_complete),
                cmocka_unit_test(test_incomplete_at_source_is_never_offered),
                cmocka_unit_test(test_no_downgrade),
                cmocka_unit_test(test_obsolete_and_protected),
                cmocka_unit_test(test_find),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_linear_in_versions),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
