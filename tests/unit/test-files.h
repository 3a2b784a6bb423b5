/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Scratch directory trees for the unit tests of the definition layer (conf, specifier, transfer,
 * definitions): create a temporary root, write files below it, remove it again. */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline char *scratch_new(void) {
        char t[] = "/tmp/abota-unit-XXXXXX";
        char *d = mkdtemp(t);
        assert_non_null(d);
        return strdup(d);
}

/* mkdir -p of every parent of dir/rel. */
static inline char *scratch_path(const char *dir, const char *rel) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
        for (char *s = strchr(p + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
                *s = '/';
        }
        return p;
}

static inline void scratch_write(const char *dir, const char *rel, const char *content) {
        char *p = scratch_path(dir, rel);
        FILE *f = fopen(p, "we");
        assert_non_null(f);
        fputs(content, f);
        assert_int_equal(fclose(f), 0);
        free(p);
}

static inline void scratch_symlink(const char *dir, const char *rel, const char *target) {
        char *p = scratch_path(dir, rel);
        assert_int_equal(symlink(target, p), 0);
        free(p);
}

static inline void scratch_mkdir(const char *dir, const char *rel) {
        char *p = scratch_path(dir, rel);
        assert_int_equal(mkdir(p, 0755), 0);
        free(p);
}

static inline int scratch_unlink_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(p);
}

static inline void scratch_free(char *dir) {
        if (dir)
                nftw(dir, scratch_unlink_one, 16, FTW_DEPTH | FTW_PHYS);
        free(dir);
}
