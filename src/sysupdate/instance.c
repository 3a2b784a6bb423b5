/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "instance.h"

#include <stdlib.h>

void instance_metadata_init(struct instance_metadata *m) {
        *m = (struct instance_metadata) {
                .no_auto = -1,
                .read_only = -1,
                .growfs = -1,
        };
}

void instance_metadata_done(struct instance_metadata *m) {
        free(m->version);
        instance_metadata_init(m);
}

void instance_metadata_donep(struct instance_metadata *m) {
        instance_metadata_done(m);
}
