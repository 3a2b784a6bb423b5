/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "resource-kinds.h"

#include "base/log.h"
#include "base/util.h"
#include "resource-directory.h"
#include "resource-partition.h"
#include "resource-url.h"

#include <errno.h>

static const struct resource_kind *const kinds[] = {
        &resource_kind_url_file,
        &resource_kind_regular_file,
        &resource_kind_partition,
        &resource_kind_directory,
        &resource_kind_subvolume,
        &resource_kind_url_tar,
        &resource_kind_tar,
};

const struct resource_kind *resource_kind_find(enum resource_type type) {
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
                if (kinds[i]->type == type)
                        return kinds[i];
        return NULL;
}

static const struct resource_config *config(const struct transfer *t, bool target) {
        return target ? &t->target : &t->source;
}

int resource_resolve(const struct transfer *t, bool target, const struct resource_context *ctx, char **ret) {
        return resource_resolve_kind(resource_kind_find(config(t, target)->type), t, target, ctx, ret);
}

int resource_load(const struct transfer *t, bool target, const struct resource_context *ctx, struct resource **ret) {
        enum resource_type type = config(t, target)->type;
        const struct resource_kind *kind = resource_kind_find(type);
        if (!kind)
                return log_error_errno(EOPNOTSUPP, "%s: %s resources are not supported yet", t->file,
                                       resource_type_to_string(type));
        return resource_load_kind(kind, t, target, ctx, ret);
}
