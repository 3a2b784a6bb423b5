/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "agent/image.h"
#include "base/log.h"

#include <stdlib.h>

int main(int argc, char **argv) {
        struct cli_options o;
        int exit_code = EXIT_OK;
        if (log_setup_from_environment() < 0)
                return EXIT_FAIL;
        const struct verb *v = cli_parse(argc, argv, &o, &exit_code);
        if (!v)
                return exit_code;
        /* --image: its root file system (for the definitions, os-release and components) and
         * its ESP, for as long as the verb runs */
        struct image *img = NULL;
        if (o.image && image_open(o.image, !o.definitions, &img) < 0)
                return EXIT_FAIL;
        o.image_parts = img;
        int rc = v->fn(&o);
        image_close(img);
        return rc;
}
