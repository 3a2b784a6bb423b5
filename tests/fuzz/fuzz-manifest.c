/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manifest_parse() on arbitrary bytes. Invariants: a rejection comes with a reason; an accepted
 * manifest only holds safe, unique names; writing it with manifest_write() and parsing that again
 * gives back the same entries. */
#include "fuzz.h"

#include "base/log.h"
#include "sysupdate/manifest.h"
#include "base/util.h"

#include <errno.h>

static void check_name(const char *name) {
        FUZZ_ASSERT(*name && name[0] != '/', "\"%s\"", name);
        FUZZ_ASSERT(!endswith(name, "/") && !strstr(name, "//"), "\"%s\"", name);
        FUZZ_ASSERT(!startswith(name, "BEST-BEFORE-"), "\"%s\"", name);
        for (const char *c = name; *c; c++)
                FUZZ_ASSERT((unsigned char) *c >= 0x20 && *c != 0x7f, "\"%s\"", name);
        _cleanup_free_ char *slashed = strprintf("/%s/", name);
        if (slashed)
                FUZZ_ASSERT(!strstr(slashed, "/./") && !strstr(slashed, "/../"), "\"%s\"", name);
}

static void manifest_freep(struct manifest **m) {
        manifest_free(*m);
}

static void round_trip(const struct manifest *m) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return;
        int r = manifest_write(f, m->entries, m->n_entries);
        if (fclose(f) != 0 || r == -ENOMEM)
                return;
        FUZZ_ASSERT(r == 0, "manifest_write: %d", r);

        _cleanup_(manifest_freep) struct manifest *again = NULL;
        _cleanup_free_ char *reason = NULL;
        r = manifest_parse(buf, size, &again, &reason);
        if (r == -ENOMEM)
                return;
        FUZZ_ASSERT(r == 0, "written manifest refused: %s\n%s", reason, buf);
        FUZZ_ASSERT(again->n_entries == m->n_entries, "%zu != %zu", again->n_entries, m->n_entries);
        FUZZ_ASSERT(again->n_best_before == 0, "%zu", again->n_best_before);
        for (size_t i = 0; i < m->n_entries; i++) {
                const struct manifest_entry *e = manifest_find(again, m->entries[i].name);
                FUZZ_ASSERT(e && memcmp(e->sha256, m->entries[i].sha256, 32) == 0, "\"%s\"",
                            m->entries[i].name);
        }
        for (size_t i = 1; i < again->n_entries; i++)
                FUZZ_ASSERT(strcmp(again->entries[i - 1].name, again->entries[i].name) < 0, "not sorted");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        log_set_max_level((enum log_level) 0);

        _cleanup_(manifest_freep) struct manifest *m = NULL;
        _cleanup_free_ char *reason = NULL;
        int r = manifest_parse((const char *) data, size, &m, &reason);
        if (r == -ENOMEM)
                return 0;
        if (r < 0) {
                FUZZ_ASSERT(r == -EBADMSG && reason && *reason && !m, "%d", r);
                return 0;
        }
        FUZZ_ASSERT(r == 0 && m && !reason, "%d", r);

        size_t lines = 0;
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n';
        FUZZ_ASSERT(size == 0 || data[size - 1] == '\n', "accepted without a final newline");
        FUZZ_ASSERT(m->n_entries + m->n_best_before <= lines, "%zu + %zu > %zu lines", m->n_entries,
                    m->n_best_before, lines);

        for (size_t i = 0; i < m->n_entries; i++) {
                check_name(m->entries[i].name);
                FUZZ_ASSERT(manifest_find(m, m->entries[i].name) == &m->entries[i], "duplicate \"%s\"",
                            m->entries[i].name);
        }
        (void) manifest_check_fresh(m, 0);
        round_trip(m);
        return 0;
}
