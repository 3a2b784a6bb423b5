/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Option errors of every parser (the global options and the verbs with their own), in abota's
 * words instead of getopt's. */
#include "cli.h"

#include "base/log.h"
#include "base/util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const struct option *option_by_val(const struct option *options, int val) {
        for (const struct option *o = options; o->name; o++)
                if (!o->flag && o->val == val)
                        return o;
        return NULL;
}

int cli_option_error(const char *verb, char **argv, const char *optstring, const struct option *options, int c) {
        char see[64];
        snprintf(see, sizeof(see), "see abota%s%s --help", verb ? " " : "", verb ? verb : "");
        const char *pfx = verb ? verb : "", *sep = verb ? ": " : "";
        /* glibc leaves optind after the element that held a long option or a missing value */
        const char *typed = optind > 0 ? argv[optind - 1] : "";
        const struct option *known = option_by_val(options, optopt);
        bool short_known = optopt > 0 && optopt < 0x100 && optopt != ':' && strchr(optstring, optopt);

        if (c == ':') {
                if (startswith(typed, "--") && known)
                        log_error("%s%soption '--%s' needs a value (%s)", pfx, sep, known->name, see);
                else
                        log_error("%s%soption '-%c' needs a value (%s)", pfx, sep, optopt, see);
        } else if (optopt == 0) {
                /* an unknown long option, or an abbreviation of several */
                size_t len = strcspn(typed, "=");
                char matches[256] = "";
                unsigned n = 0;
                for (const struct option *o = options; o->name && len > 2; o++)
                        if (strncmp(o->name, typed + 2, len - 2) == 0 && n++ < 8)
                                snprintf(matches + strlen(matches), sizeof(matches) - strlen(matches), "%s--%s",
                                         n > 1 ? ", " : "", o->name);
                if (n > 1)
                        log_error("%s%sambiguous option '%.*s': %s (%s)", pfx, sep, (int) len, typed, matches, see);
                else
                        log_error("%s%sunknown option '%.*s' (%s)", pfx, sep, (int) len, typed, see);
        } else if ((optopt >= 0x100 || short_known) && known)
                log_error("%s%soption '--%s' takes no value (%s)", pfx, sep, known->name, see);
        else
                log_error("%s%sunknown option '-%c' (%s)", pfx, sep, optopt, see);
        return EXIT_FAIL;
}
