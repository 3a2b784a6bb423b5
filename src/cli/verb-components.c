/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "sysupdate/definitions.h"
#include "base/log.h"
#include "base/util.h"

#include <stdio.h>

/* abota components: "<default>" when sysupdate.d holds transfers, then every sysupdate.NAME.d
 * (spec sysupdate.md 10.3). */
int verb_components(const struct cli_options *o) {
        _cleanup_strv_free_ char **names = NULL;
        bool has_default = false;
        if (definitions_list_components(cli_root(o), &has_default, &names) < 0)
                return EXIT_FAIL;

        if (o->json != JSON_OFF) {
                struct json_writer w;
                json_init(&w, stdout, o->json);
                json_begin_object(&w);
                json_kv_bool(&w, "default", has_default);
                json_kv_strv(&w, "components", names);
                json_end_object(&w);
                json_finish(&w);
                return EXIT_OK;
        }
        if (!has_default && !names[0]) {
                log_notice("No components defined.");
                return EXIT_OK;
        }
        if (has_default)
                printf("<default>\n");
        for (size_t i = 0; names[i]; i++)
                printf("%s\n", names[i]);
        return EXIT_OK;
}
