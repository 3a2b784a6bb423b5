/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-options.h"

#include "base/util.h"

static const char *const empty_names[_REPART_EMPTY_MAX] = {
        [REPART_EMPTY_REFUSE] = "refuse", [REPART_EMPTY_ALLOW] = "allow", [REPART_EMPTY_REQUIRE] = "require",
        [REPART_EMPTY_FORCE] = "force",   [REPART_EMPTY_CREATE] = "create",
};

enum repart_empty repart_empty_from_string(const char *s) {
        for (int i = 0; i < _REPART_EMPTY_MAX; i++)
                if (streq(empty_names[i], s))
                        return (enum repart_empty) i;
        return _REPART_EMPTY_INVALID;
}

void repart_result_done(struct repart_result *r) {
        for (size_t i = 0; i < r->n; i++) {
                free(r->partitions[i].type);
                free(r->partitions[i].label);
                free(r->partitions[i].file);
                free(r->partitions[i].node);
                free(r->partitions[i].split_path);
        }
        free(r->partitions);
        *r = (struct repart_result) {};
}
