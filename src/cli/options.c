/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const struct verb verbs[] = {
        /* device verbs (sysupdate-compatible), then build-host verbs */
        { "list", verb_list, NULL, 0, 1, "List installed and available versions, or one version's details" },
        { "check", verb_check, NULL, 0, 0, "Show CURRENT \u2192 NEW if an update is available (as updatectl check)" },
        { "check-new", verb_check_new, NULL, 0, 0, "Print the version an update would install" },
        { "update", verb_update, NULL, 0, 1, "Install the newest version (or VERSION)" },
        { "vacuum", verb_vacuum, NULL, 0, 0, "Remove old versions beyond InstancesMax=" },
        { "pending", verb_pending, NULL, 0, 0, "Exit 0 if a newer version than the booted one is installed" },
        { "reboot", verb_reboot, NULL, 0, 0, "Reboot if a newer version than the booted one is installed" },
        { "daemon", verb_daemon, NULL, 0, 0, "Check for updates periodically, reboot in the maintenance window" },
        { "bless", NULL, verb_bless, 0, 0, "Mark the booted entry good or bad (boot counting)" },
        { "unlock", NULL, verb_unlock, 0, 0, "Open an encrypted volume through the TPM, a key file or the recovery key" },
        { "enroll", NULL, verb_enroll, 0, 0, "Add a TPM2 or recovery key to an encrypted volume" },
        { "components", verb_components, NULL, 0, 0, "List the components (sysupdate.NAME.d directories)" },
        { "definitions", verb_definitions, NULL, 0, 0, "Show the transfers and features as understood" },
        { "features", verb_features, NULL, 0, 1, "List the optional features, or show one" },
        { "enable-feature", verb_enable_feature, NULL, 1, 64, "Enable features (drop-in in /etc/sysupdate.d)" },
        { "disable-feature", verb_disable_feature, NULL, 1, 64, "Disable features (drop-in in /etc/sysupdate.d)" },
        { "repart", NULL, verb_repart, 0, 0, "Build or grow a GPT disk image from repart.d definitions" },
        { "publish", NULL, verb_publish, 0, 0, "Add a version to an update directory, rewrite and sign SHA256SUMS" },
        {}
};

const struct verb *verb_find(const char *name) {
        for (size_t i = 0; verbs[i].name; i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

void help_print(void) {
        printf("abota - immutable A/B appliance images and over-the-air updates\n\n"
               "Usage: abota [OPTIONS...] [VERB [ARGS...]]\n\n"
               "Without a verb: show the current version and the one available.\n\nVerbs:\n");
        for (size_t i = 0; verbs[i].name; i++) {
                const char *s = verbs[i].summary, *arrow = strstr(s, "\u2192");
                if (arrow)
                        printf("  %-14s %.*s%s%s\n", verbs[i].name, (int) (arrow - s), s, glyph("\u2192", "->"),
                               arrow + strlen("\u2192"));
                else
                        printf("  %-14s %s\n", verbs[i].name, s);
        }
        printf("\nOptions (sysupdate-compatible):\n"
               "  -h --help                 Show this help\n"
               "     --version              Show the version\n"
               "     --definitions=DIR      Read transfer definitions only from DIR (below --root if there)\n"
               "     --root=DIR             Operate on the system below DIR\n"
               "     --image=FILE           Operate on the disk image FILE: its definitions,\n"
               "                            os-release, partitions and ESP (through mtools)\n"
               "  -C --component=NAME       Use sysupdate.NAME.d/ instead of sysupdate.d/\n"
               "     --transfer-source=DIR  Base for PathRelativeTo=explicit sources\n"
               "     --json=pretty|short|off  JSON output (update: one event per line)\n"
               "     --verify=BOOL          Force signature checking of SHA256SUMS on or off\n"
               "     --offline              Do not fetch manifests from the network\n"
               "  -m --instances-max=N      Override InstancesMax= of every transfer\n"
               "     --sync=BOOL            fsync written data (default yes)\n"
               "     --reboot               Reboot after a successful update\n"
               "     --no-legend            Omit table headers\n"
               "     --strict               Treat warnings about the definitions as errors\n"
               "     --dry-run              update: print the plan, change nothing\n"
               "  -v --verbose              Log debug messages too (--log-level=debug)\n"
               "     --log-level=LEVEL      err, warning, notice, info (default) or debug;\n"
               "                            also SYSTEMD_LOG_LEVEL=\n"
               "\nOptions of daemon:\n"
               "     --interval=TIME        Time between update checks (default 1d)\n"
               "     --random-delay=TIME    Delay each check by up to TIME more (default 2h)\n"
               "     --maintenance-window=HH:MM-HH:MM  Reboot into a newer version only then\n"
               "     --state-dir=DIR        Last check time and lock (default /var/lib/abota)\n"
               "\nSee abota(1).\n");
}

enum {
        ARG_VERSION = 0x100,
        ARG_DEFINITIONS,
        ARG_ROOT,
        ARG_IMAGE,
        ARG_TRANSFER_SOURCE,
        ARG_JSON,
        ARG_VERIFY,
        ARG_OFFLINE,
        ARG_SYNC,
        ARG_REBOOT,
        ARG_NO_LEGEND,
        ARG_INTERVAL,
        ARG_RANDOM_DELAY,
        ARG_MAINTENANCE_WINDOW,
        ARG_STATE_DIR,
        ARG_STRICT,
        ARG_LOG_LEVEL,
        ARG_DRY_RUN,
};

static int parse_json_mode(const char *s, enum json_mode *ret) {
        if (streq(s, "pretty"))
                *ret = JSON_PRETTY;
        else if (streq(s, "short"))
                *ret = JSON_SHORT;
        else if (streq(s, "off"))
                *ret = JSON_OFF;
        else
                return log_error_errno(EINVAL, "--json=%s: expected pretty, short or off", s);
        return 0;
}

/* Verbs with their own option parser are dispatched on the first argument that is not an
 * option, before getopt permutes anything. */
const struct verb *cli_parse(int argc, char **argv, struct cli_options *o, int *ret_exit) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "definitions", required_argument, NULL, ARG_DEFINITIONS },
                { "root", required_argument, NULL, ARG_ROOT },
                { "image", required_argument, NULL, ARG_IMAGE },
                { "component", required_argument, NULL, 'C' },
                { "transfer-source", required_argument, NULL, ARG_TRANSFER_SOURCE },
                { "json", required_argument, NULL, ARG_JSON },
                { "verify", required_argument, NULL, ARG_VERIFY },
                { "offline", no_argument, NULL, ARG_OFFLINE },
                { "instances-max", required_argument, NULL, 'm' },
                { "sync", required_argument, NULL, ARG_SYNC },
                { "reboot", no_argument, NULL, ARG_REBOOT },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "interval", required_argument, NULL, ARG_INTERVAL },
                { "random-delay", required_argument, NULL, ARG_RANDOM_DELAY },
                { "maintenance-window", required_argument, NULL, ARG_MAINTENANCE_WINDOW },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "strict", no_argument, NULL, ARG_STRICT },
                { "verbose", no_argument, NULL, 'v' },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                {}
        };

        *o = (struct cli_options) { .verify = -1, .sync = true };
        *ret_exit = EXIT_FAIL;

        if (argc > 1 && argv[1][0] != '-') {
                const struct verb *v = verb_find(argv[1]);
                if (v && v->raw_fn) {
                        *ret_exit = v->raw_fn(argc - 1, argv + 1);
                        return NULL;
                }
        }

        static const char optstring[] = CLI_OPTSTRING("hvC:m:");
        int c, r;
        uint64_t u;
        opterr = 0;
        while ((c = getopt_long(argc, argv, optstring, options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help_print();
                        *ret_exit = EXIT_OK;
                        return NULL;
                case ARG_VERSION:
                        printf("abota %s\n", ABOTA_VERSION);
                        *ret_exit = EXIT_OK;
                        return NULL;
                case ARG_DEFINITIONS: o->definitions = optarg; break;
                case ARG_ROOT: o->root = optarg; break;
                case ARG_IMAGE: o->image = optarg; break;
                case 'C': o->component = optarg; break;
                case ARG_TRANSFER_SOURCE: o->transfer_source = optarg; break;
                case ARG_JSON:
                        if (parse_json_mode(optarg, &o->json) < 0)
                                return NULL;
                        break;
                case ARG_VERIFY:
                case ARG_SYNC:
                        r = parse_boolean(optarg);
                        if (r < 0) {
                                log_error("--%s=%s: expected a boolean", c == ARG_VERIFY ? "verify" : "sync", optarg);
                                return NULL;
                        }
                        if (c == ARG_VERIFY)
                                o->verify = r;
                        else
                                o->sync = r;
                        break;
                case ARG_OFFLINE: o->offline = true; break;
                case ARG_REBOOT: o->reboot = true; break;
                case ARG_NO_LEGEND: o->no_legend = true; break;
                case ARG_INTERVAL: o->interval = optarg; break;
                case ARG_RANDOM_DELAY: o->random_delay = optarg; break;
                case ARG_MAINTENANCE_WINDOW: o->maintenance_window = optarg; break;
                case ARG_STATE_DIR: o->state_dir = optarg; break;
                case ARG_STRICT: o->strict = true; break;
                case ARG_DRY_RUN: o->dry_run = true; break;
                case 'v': log_set_max_level(LOG_DEBUG); break;
                case ARG_LOG_LEVEL: {
                        enum log_level l;
                        if (log_level_from_string(optarg, &l) < 0) {
                                log_error("--log-level=%s: expected one of emerg, alert, crit, err, warning, notice, info, debug or 0-7", optarg);
                                return NULL;
                        }
                        log_set_max_level(l);
                        break;
                }
                case 'm':
                        if (parse_uint64(optarg, 10, &u) < 0 || u == 0) {
                                log_error("--instances-max=%s: expected a positive number", optarg);
                                return NULL;
                        }
                        o->instances_max = u;
                        break;
                default:
                        cli_option_error(NULL, argv, optstring, options, c);
                        return NULL;
                }
        }

        if (o->dry_run && !streq_ptr(optind < argc ? argv[optind] : NULL, "update")) {
                log_error("--dry-run applies to update only");
                return NULL;
        }
        if (o->definitions && o->component) {
                log_error("--definitions= and --component= cannot be combined");
                return NULL;
        }
        if (o->root && o->image) {
                log_error("--root= and --image= cannot be combined");
                return NULL;
        }

        if (optind >= argc) {
                static const struct verb status = { "", verb_status, NULL, 0, 0, "" };
                o->args = argv + optind;
                return &status;
        }
        const struct verb *v = verb_find(argv[optind]);
        if (!v) {
                log_error("unknown verb '%s' (see abota --help)", argv[optind]);
                return NULL;
        }
        if (!v->fn) { /* reached only when global options came first (see the top) */
                log_error("%s: takes its own options, after the verb: abota %s [OPTIONS...]", v->name, v->name);
                return NULL;
        }
        if ((o->interval || o->random_delay || o->maintenance_window || o->state_dir) && v->fn != verb_daemon) {
                log_error("%s: --interval=, --random-delay=, --maintenance-window= and --state-dir= apply to daemon only",
                          v->name);
                return NULL;
        }
        o->args = argv + optind + 1;
        o->n_args = argc - optind - 1;
        if (o->n_args < v->min_args || o->n_args > v->max_args) {
                log_error("%s: expected %s%d argument(s), got %d", v->name,
                          v->min_args == v->max_args ? "" : "at most ", v->max_args, o->n_args);
                return NULL;
        }
        return v;
}
