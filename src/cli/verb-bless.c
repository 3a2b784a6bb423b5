/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "boot/bless.h"
#include "base/log.h"
#include "boot/reboot.h"
#include "base/util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void bless_help(void) {
        printf("Usage: abota bless [OPTIONS...] good|bad|indeterminate|status\n"
               "       abota bless --check [OPTIONS...]\n\n"
               "Boot assessment for systemd-boot's boot counting: renames the entry the loader\n"
               "booted (EFI variable LoaderBootCountPath) to its good name (P.efi) or its bad\n"
               "name (P+0-D.efi), or back (indeterminate). status prints good, bad,\n"
               "indeterminate, dirty or clean (no boot counting active).\n\n"
               "  -h --help            Show this help\n"
               "     --esp=DIR         The ESP (default: the first of /efi, /boot, /boot/efi\n"
               "                       holding the entry)\n"
               "     --efivarfs=DIR    Where to read EFI variables (default " EFIVARFS_DEFAULT ")\n"
               "     --root=DIR        Look for the ESP and health checks below DIR\n"
               "     --check           Run /etc/abota/health.d/* and /usr/lib/abota/health.d/*;\n"
               "                       mark good if all pass, else mark bad and reboot\n"
               "                       ($ABOTA_REBOOT_COMMAND, else systemctl reboot or reboot)\n");
}

static int parse_action(const char *s, bool *ret_status, enum bless_state *ret) {
        *ret_status = streq(s, "status");
        if (*ret_status || streq(s, "good"))
                *ret = BLESS_GOOD;
        else if (streq(s, "bad"))
                *ret = BLESS_BAD;
        else if (streq(s, "indeterminate"))
                *ret = BLESS_INDETERMINATE;
        else
                return log_error_errno(EINVAL, "bless: unknown action '%s' (good, bad, indeterminate, status)", s);
        return 0;
}

/* Runs the health checks; returns the state the entry should get. */
static int assess(const char *root, enum bless_state *ret) {
        unsigned n = 0;
        int failed = health_checks_run(root, &n);
        if (failed < 0)
                return failed;
        printf("health checks: %u run, %d failed\n", n, failed);
        *ret = failed == 0 ? BLESS_GOOD : BLESS_BAD;
        return 0;
}

int verb_bless(int argc, char **argv) {
        enum { ARG_ESP = 0x100, ARG_EFIVARFS, ARG_ROOT, ARG_CHECK };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "esp", required_argument, NULL, ARG_ESP },
                { "efivarfs", required_argument, NULL, ARG_EFIVARFS },
                { "root", required_argument, NULL, ARG_ROOT },
                { "check", no_argument, NULL, ARG_CHECK },
                {}
        };
        const char *esp_arg = NULL, *efivarfs = EFIVARFS_DEFAULT, *root = NULL;
        bool check = false, status = false;
        enum bless_state target = BLESS_GOOD;
        int c, r;

        static const char optstring[] = CLI_OPTSTRING("h");
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, optstring, options, NULL)) >= 0)
                switch (c) {
                case 'h': bless_help(); return EXIT_OK;
                case ARG_ESP: esp_arg = optarg; break;
                case ARG_EFIVARFS: efivarfs = optarg; break;
                case ARG_ROOT: root = optarg; break;
                case ARG_CHECK: check = true; break;
                default: return cli_option_error("bless", argv, optstring, options, c);
                }
        if (argc - optind > 1) {
                log_error("bless: expected one action, got %d arguments", argc - optind);
                return EXIT_FAIL;
        }
        if (argc - optind == 1 && parse_action(argv[optind], &status, &target) < 0)
                return EXIT_FAIL;
        if (argc - optind == 0 && !check) {
                log_error("bless: expected an action: good, bad, indeterminate or status");
                return EXIT_FAIL;
        }
        if (check && (status || target != BLESS_GOOD)) {
                log_error("bless: --check decides by itself; combine it with no action or 'good'");
                return EXIT_FAIL;
        }

        _cleanup_free_ char *count_path = NULL, *esp = NULL;
        r = bless_read_count_path(efivarfs, &count_path);
        if (r == -ENOENT) {
                if (status) {
                        puts(bless_state_to_string(BLESS_CLEAN));
                        return EXIT_OK;
                }
                /* No counting this boot (blessed entry, or not booted by systemd-boot). */
                log_notice("bless: LoaderBootCountPath not set, boot counting not active: nothing to do");
                if (check && (assess(root, &target) < 0 || target != BLESS_GOOD))
                        return EXIT_FAIL;
                return EXIT_OK;
        }
        if (r < 0)
                return EXIT_FAIL;
        if (bless_find_esp(root, esp_arg, count_path, &esp) < 0)
                return EXIT_FAIL;

        if (status) {
                enum bless_state s;
                if (bless_get_state(esp, count_path, &s) < 0)
                        return EXIT_FAIL;
                puts(bless_state_to_string(s));
                return EXIT_OK;
        }

        if (check && assess(root, &target) < 0)
                return EXIT_FAIL;
        r = bless_mark(esp, count_path, target);
        if (r < 0)
                return EXIT_FAIL;
        _cleanup_free_ char *shown = path_join(esp, count_path);
        printf("%s: %s %s\n", shown ?: count_path, r > 0 ? "marked" : "already", bless_state_to_string(target));

        if (check && target == BLESS_BAD) {
                fflush(stdout);
                (void) reboot_system();
                return EXIT_FAIL;
        }
        return EXIT_OK;
}
