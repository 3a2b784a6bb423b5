/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GPT partitions as targets (spec sysupdate.md 5.3, 3.5): slots of the configured type, named by
 * their label; `_empty` marks a free slot. */
#include "resource.h"

#include "base/log.h"
#include "partition.h"
#include "base/parttype.h"
#include "sysupdate/pattern.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>

int resource_load_partitions(struct resource *r, const struct transfer *t) {
        int k = partition_table_read(r->path, &r->table);
        if (k < 0)
                return k;

        for (size_t i = 0; i < r->table->n_partitions; i++) {
                const struct partition_info *p = &r->table->partitions[i];
                if (memcmp(p->type, t->partition_type, 16) != 0)
                        continue;
                if (streq(p->label, PARTITION_LABEL_EMPTY)) {
                        r->n_empty++;
                        continue;
                }

                struct instance_metadata m;
                instance_metadata_init(&m);
                k = pattern_match_many(t->target.patterns, t->target.n_patterns, p->label, &m);
                if (k != PATTERN_YES) {
                        instance_metadata_done(&m);
                        if (k < 0)
                                return k;
                        continue;
                }
                if (!m.has_uuid) {
                        m.has_uuid = true;
                        memcpy(m.uuid, p->uuid, 16);
                }
                if (!m.has_flags) {
                        m.has_flags = true;
                        m.flags = p->flags;
                }
                if (m.read_only < 0 && partition_type_knows_read_only(p->type))
                        m.read_only = !!(p->flags & GPT_FLAG_READ_ONLY);

                _cleanup_free_ char *path = p->node ? strdup(p->node) : strprintf("%s:%zu", r->path, p->partno + 1);
                k = path ? resource_add_instance(r, p->label, path, &m) : -ENOMEM;
                instance_metadata_done(&m);
                if (k < 0)
                        return k;
                r->instances[r->n_instances - 1]->partition = p;
        }
        return 0;
}
