/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

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
        return v->fn(&o);
}
