/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "sysupdate/definitions.h"
#include "base/log.h"
#include "sysupdate/manifest.h"
#include "sysupdate/pattern.h"
#include "release/publish.h"
#include "base/util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

static void publish_help(void) {
        printf("Usage: abota publish [OPTIONS...] DIR FILE...\n\n"
               "Adds the payloads FILE... of one version to the update directory DIR (served over\n"
               "HTTP as a sysupdate url-file source), rewrites DIR/SHA256SUMS over every file in\n"
               "DIR, optionally signs it as SHA256SUMS.gpg and removes the oldest versions.\n\n"
               "  -h --help                Show this help\n"
               "     --pattern=PATTERN     A MatchPattern recognising versions in file names, e.g.\n"
               "                           appliance_@v.efi (repeatable)\n"
               "     --definitions=DIR     Use the [Source] MatchPattern= of every transfer in DIR\n"
               "     --keep=N              Keep only the N newest versions in DIR\n"
               "     --deltas=N            Publish patches from the N newest older versions to\n"
               "                           each payload (default 2, 0 = none)\n"
               "     --block-index=BOOL    Publish a block index and the blocks of each payload for\n"
               "                           block reuse on devices (with --definitions=: of the\n"
               "                           partition transfers; default: those, none without)\n"
               "     --compress=none|zstd|xz[:LEVEL]  Compress payloads (same file name: clients\n"
               "                           detect compression by magic); zstd 1-19 (default 9),\n"
               "                           xz 0-9 (default 6)\n"
               "     --best-before=YYYY-MM-DD  Add a BEST-BEFORE marker: clients refuse the\n"
               "                           manifest after that day (give it on every publish)\n"
               "     --force               Replace an already published file by different content\n"
               "     --sign=gpg|no         Sign SHA256SUMS with gpg as SHA256SUMS.gpg; no: publish\n"
               "                           unsigned, even into a signed directory\n"
               "     --gpg-key=ID          Key to sign with (default: gpg's default key)\n"
               "     --gpg-homedir=DIR     GnuPG home directory of the signing key\n");
}

/* Every transfer's source patterns, compiled by definitions_load(); d keeps them alive. */
static int patterns_from_definitions(const char *dir, struct definitions **ret_d, struct pattern ***patterns,
                                     size_t *n, struct publish_transfer **ret_transfers) {
        struct definitions_options o = { .definitions_dir = dir, .build_host = true };
        int r = definitions_load(&o, ret_d);
        if (r < 0)
                return r;
        *ret_transfers = calloc((*ret_d)->n_transfers + 1, sizeof(struct publish_transfer));
        if (!*ret_transfers)
                return log_error_errno(ENOMEM, "out of memory");
        for (size_t i = 0; i < (*ret_d)->n_transfers; i++) {
                struct transfer *t = (*ret_d)->transfers[i];
                (*ret_transfers)[i] = (struct publish_transfer) {
                        .name = t->file ? path_basename(t->file) : t->id,
                        .patterns = t->source.patterns,
                        .n_patterns = t->source.n_patterns,
                        .partition = t->target.type == RESOURCE_PARTITION,
                };
                for (size_t j = 0; j < t->source.n_patterns; j++) {
                        struct pattern **p = realloc(*patterns, (*n + 1) * sizeof(*p));
                        if (!p)
                                return log_error_errno(ENOMEM, "out of memory");
                        *patterns = p;
                        (*patterns)[(*n)++] = t->source.patterns[j];
                }
        }
        return 0;
}

static void print_result(const struct publish_options *o, const struct publish_result *res) {
        printf("Published version %s in %s:", res->version, o->dir);
        for (char **n = res->added; n && *n; n++)
                printf(" %s", *n);
        if (o->compression != COMPRESSION_NONE)
                printf(" (%s)", compression_to_string(o->compression));
        printf("\n");
        if (res->dropped_versions) {
                printf("Removed version(s)");
                for (char **v = res->dropped_versions; *v; v++)
                        printf(" %s", *v);
                printf(":");
                for (char **n = res->removed; n && *n; n++)
                        printf(" %s", *n);
                printf("\n");
        }
        printf("SHA256SUMS lists %zu file(s)%s%s%s\n", res->n_listed, o->best_before ? ", best before " : "",
               o->best_before ? o->best_before : "", res->signed_ ? ", signed as SHA256SUMS.gpg" : "");
}

int verb_publish(int argc, char **argv) {
        enum { ARG_PATTERN = 0x100, ARG_DEFINITIONS, ARG_KEEP, ARG_COMPRESS, ARG_SIGN, ARG_GPG_KEY, ARG_GPG_HOMEDIR,
               ARG_BEST_BEFORE, ARG_FORCE, ARG_DELTAS, ARG_BLOCK_INDEX };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "pattern", required_argument, NULL, ARG_PATTERN },
                { "definitions", required_argument, NULL, ARG_DEFINITIONS },
                { "keep", required_argument, NULL, ARG_KEEP },
                { "deltas", required_argument, NULL, ARG_DELTAS },
                { "block-index", required_argument, NULL, ARG_BLOCK_INDEX },
                { "compress", required_argument, NULL, ARG_COMPRESS },
                { "sign", required_argument, NULL, ARG_SIGN },
                { "gpg-key", required_argument, NULL, ARG_GPG_KEY },
                { "gpg-homedir", required_argument, NULL, ARG_GPG_HOMEDIR },
                { "best-before", required_argument, NULL, ARG_BEST_BEFORE },
                { "force", no_argument, NULL, ARG_FORCE },
                {}
        };
        struct publish_options o = { .deltas = 2, .blocks = -1 };
        _cleanup_free_ struct pattern **patterns = NULL; /* borrowed from own[] and definitions */
        size_t n_patterns = 0;
        struct pattern *own[64];
        size_t n_own = 0;
        struct definitions *defs = NULL;
        _cleanup_free_ struct publish_transfer *transfers = NULL;
        const char *definitions_dir = NULL;
        int c, r = 0, exit_code = EXIT_FAIL;

        static const char optstring[] = CLI_OPTSTRING("h");
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, optstring, options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        publish_help();
                        exit_code = EXIT_OK;
                        goto finish;
                case ARG_PATTERN: {
                        const char *reason = NULL;
                        if (n_own == ELEMENTSOF(own)) {
                                log_error("--pattern: at most %zu patterns", ELEMENTSOF(own));
                                goto finish;
                        }
                        if (pattern_compile(optarg, &own[n_own], &reason) < 0) {
                                log_error("--pattern=%s: %s", optarg, reason ? reason : "invalid pattern");
                                goto finish;
                        }
                        n_own++;
                        break;
                }
                case ARG_DEFINITIONS: definitions_dir = optarg; break;
                case ARG_KEEP:
                        if (parse_uint64(optarg, 10, &o.keep) < 0 || o.keep == 0) {
                                log_error("--keep=%s: expected a positive number", optarg);
                                goto finish;
                        }
                        break;
                case ARG_DELTAS:
                        if (parse_uint64(optarg, 10, &o.deltas) < 0 || o.deltas > 16) {
                                log_error("--deltas=%s: expected a number from 0 to 16", optarg);
                                goto finish;
                        }
                        break;
                case ARG_BLOCK_INDEX:
                        if ((r = parse_boolean(optarg)) < 0) {
                                log_error("--block-index=%s: expected yes or no", optarg);
                                goto finish;
                        }
                        o.blocks = r;
                        r = 0;
                        break;
                case ARG_COMPRESS:
                        if (compression_from_string(optarg, &o.compression, &o.level) < 0) {
                                log_error("--compress=%s: expected none, zstd[:1-19] or xz[:0-9]", optarg);
                                goto finish;
                        }
                        break;
                case ARG_SIGN:
                        o.sign = streq(optarg, "gpg");
                        o.unsign = streq(optarg, "no");
                        if (!o.sign && !o.unsign) {
                                log_error("--sign=%s: expected gpg or no", optarg);
                                goto finish;
                        }
                        break;
                case ARG_GPG_KEY: o.gpg_key = optarg; break;
                case ARG_GPG_HOMEDIR: o.gpg_homedir = optarg; break;
                case ARG_FORCE: o.force = true; break;
                case ARG_BEST_BEFORE: {
                        time_t t;
                        if (manifest_parse_date(optarg, &t) < 0) {
                                log_error("--best-before=%s: expected a date YYYY-MM-DD", optarg);
                                goto finish;
                        }
                        /* a marker already in the past makes every client refuse the manifest */
                        if (t < time(NULL)) {
                                log_error("--best-before=%s: the date has passed, clients would refuse the manifest", optarg);
                                goto finish;
                        }
                        o.best_before = optarg;
                        break;
                }
                default:
                        cli_option_error("publish", argv, optstring, options, c);
                        goto finish;
                }
        }
        if (argc - optind < 2) {
                log_error("publish: expected DIR and at least one FILE (see abota publish --help)");
                goto finish;
        }
        if ((o.gpg_key || o.gpg_homedir) && !o.sign) {
                log_error("--gpg-key= and --gpg-homedir= need --sign=gpg");
                goto finish;
        }
        for (size_t i = 0; i < n_own; i++) {
                struct pattern **p = realloc(patterns, (n_patterns + 1) * sizeof(*p));
                if (!p) {
                        log_error("out of memory");
                        goto finish;
                }
                patterns = p;
                patterns[n_patterns++] = own[i];
        }
        if (definitions_dir) {
                if (patterns_from_definitions(definitions_dir, &defs, &patterns, &n_patterns, &transfers) < 0)
                        goto finish;
                o.transfers = transfers;
                o.n_transfers = defs->n_transfers;
        }
        if (n_patterns == 0) {
                log_error("publish: give --pattern= or --definitions= to recognise versions in file names");
                goto finish;
        }

        o.dir = argv[optind];
        o.files = argv + optind + 1;
        o.n_files = (size_t) (argc - optind - 1);
        o.patterns = patterns;
        o.n_patterns = n_patterns;
        struct publish_result res = {};
        r = publish(&o, &res);
        if (r >= 0) {
                print_result(&o, &res);
                publish_result_done(&res);
                exit_code = EXIT_OK;
        }
finish:
        for (size_t i = 0; i < n_own; i++)
                pattern_free(own[i]);
        definitions_free(defs);
        return exit_code;
}
