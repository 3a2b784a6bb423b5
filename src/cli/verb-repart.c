/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "base/json.h"
#include "base/log.h"
#include "crypt/tpm2.h"
#include "image/repart.h"
#include "base/util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

static void repart_help(void) {
        printf("Usage: abota repart [OPTIONS...] IMAGE\n\n"
               "Build or grow a GPT disk image (or block device) from repart.d definitions,\n"
               "compatible with systemd-repart.\n\n"
               "  -h --help                    Show this help\n"
               "     --definitions=DIR         Read *.conf from DIR (repeatable; default: repart.d search path)\n"
               "     --root=DIR                Root for the search path, CopyFiles= sources, machine-id\n"
               "     --empty=refuse|allow|require|force|create\n"
               "                               What to do with a disk without (or with) a GPT (default refuse)\n"
               "     --size=auto|BYTES         Size of the image file (auto: the minimum)\n"
               "     --seed=UUID|random        Seed for partition and disk UUIDs (default: machine-id)\n"
               "     --split=BOOL              Also write each partition to a file (disk.raw: disk.SPLITNAME.raw)\n"
               "     --dry-run=BOOL            Only show the plan (default yes)\n"
               "     --json=pretty|short|off   Print the partition table as JSON\n"
               "     --strict                  Treat warnings about the definitions as errors\n"
               "     --key-file=FILE           Encrypt=key-file: FILE's content unlocks the volume\n"
               "     --tpm2-device=DEV         Encrypt=tpm2: TPM device node or tpm2-tss TCTI\n"
               "                               (swtpm:host=127.0.0.1,port=2321; default: tpm2-tss default)\n"
               "     --tpm2-pcrs=PCRS          Encrypt=tpm2: PCRs to seal to, e.g. 7 or 0+7 (default 7)\n");
}

enum {
        ARG_DEFINITIONS = 0x100,
        ARG_ROOT,
        ARG_EMPTY,
        ARG_SIZE,
        ARG_SEED,
        ARG_SPLIT,
        ARG_DRY_RUN,
        ARG_JSON,
        ARG_STRICT,
        ARG_KEY_FILE,
        ARG_TPM2_DEVICE,
        ARG_TPM2_PCRS,
};

static int parse_bool_arg(const char *name, const char *v, bool *ret) {
        int r = parse_boolean(v);
        if (r < 0)
                return log_error_errno(EINVAL, "--%s=%s: expected a boolean", name, v);
        *ret = r;
        return 0;
}

static int parse_args(int argc, char **argv, struct repart_options *o, char ***defs, enum json_mode *json) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "definitions", required_argument, NULL, ARG_DEFINITIONS },
                { "root", required_argument, NULL, ARG_ROOT },
                { "empty", required_argument, NULL, ARG_EMPTY },
                { "size", required_argument, NULL, ARG_SIZE },
                { "seed", required_argument, NULL, ARG_SEED },
                { "split", required_argument, NULL, ARG_SPLIT },
                { "dry-run", required_argument, NULL, ARG_DRY_RUN },
                { "json", required_argument, NULL, ARG_JSON },
                { "strict", no_argument, NULL, ARG_STRICT },
                { "key-file", required_argument, NULL, ARG_KEY_FILE },
                { "tpm2-device", required_argument, NULL, ARG_TPM2_DEVICE },
                { "tpm2-pcrs", required_argument, NULL, ARG_TPM2_PCRS },
                {}
        };
        int c, r;

        static const char optstring[] = CLI_OPTSTRING("h");
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, optstring, options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        repart_help();
                        return 1;
                case ARG_DEFINITIONS:
                        if (!path_is_absolute(optarg) && !isempty(optarg)) {
                                _cleanup_free_ char *cwd = getcwd(NULL, 0);
                                char *p = cwd ? path_join(cwd, optarg) : NULL;
                                r = p ? strv_push(defs, p) : -ENOMEM;
                        } else
                                r = strv_extend(defs, optarg);
                        if (r < 0)
                                return r;
                        break;
                case ARG_ROOT:
                        o->root = optarg;
                        break;
                case ARG_EMPTY:
                        o->empty = repart_empty_from_string(optarg);
                        if (o->empty == _REPART_EMPTY_INVALID)
                                return log_error_errno(EINVAL, "--empty=%s: expected refuse, allow, require, force or create",
                                                       optarg);
                        break;
                case ARG_SIZE:
                        if (streq(optarg, "auto"))
                                o->size_auto = true;
                        else if (parse_size(optarg, &o->size) < 0)
                                return log_error_errno(EINVAL, "--size=%s: expected auto or a size in bytes", optarg);
                        break;
                case ARG_SEED:
                        if (streq(optarg, "random"))
                                o->seed_random = true;
                        else if (uuid_parse(optarg, o->seed) < 0)
                                return log_error_errno(EINVAL, "--seed=%s: expected a UUID or random", optarg);
                        else
                                o->seed_set = true;
                        break;
                case ARG_SPLIT:
                        r = parse_bool_arg("split", optarg, &o->split);
                        if (r < 0)
                                return r;
                        break;
                case ARG_DRY_RUN:
                        r = parse_bool_arg("dry-run", optarg, &o->dry_run);
                        if (r < 0)
                                return r;
                        break;
                case ARG_KEY_FILE:
                        o->key_file = optarg;
                        break;
                case ARG_TPM2_DEVICE:
                        o->tpm2_device = streq(optarg, "auto") ? NULL : optarg;
                        break;
                case ARG_TPM2_PCRS:
                        if (tpm2_pcr_mask_parse(optarg, &o->tpm2_pcrs) < 0)
                                return log_error_errno(EINVAL, "--tpm2-pcrs=%s: expected PCR numbers 0-23 separated by + or ,",
                                                       optarg);
                        break;
                case ARG_JSON:
                        if (streq(optarg, "pretty"))
                                *json = JSON_PRETTY;
                        else if (streq(optarg, "short"))
                                *json = JSON_SHORT;
                        else if (streq(optarg, "off"))
                                *json = JSON_OFF;
                        else
                                return log_error_errno(EINVAL, "--json=%s: expected pretty, short or off", optarg);
                        break;
                case ARG_STRICT:
                        o->strict = true;
                        break;
                default:
                        cli_option_error("repart", argv, optstring, options, c);
                        return -EINVAL;
                }
        }
        if (argc - optind != 1)
                return log_error_errno(EINVAL, "repart: expected exactly one IMAGE argument (see abota repart --help)");
        o->image = argv[optind];
        if (o->empty == REPART_EMPTY_CREATE && !o->size_auto && o->size == UINT64_MAX)
                return log_error_errno(EINVAL, "--empty=create needs --size=");
        return 0;
}

static void print_json(const struct repart_result *res, enum json_mode mode) {
        struct json_writer w;
        bool any_split = false;
        for (size_t i = 0; i < res->n; i++)
                any_split = any_split || res->partitions[i].split_path;

        json_init(&w, stdout, mode);
        json_begin_array(&w);
        for (size_t i = 0; i < res->n; i++) {
                const struct repart_result_partition *p = &res->partitions[i];
                char uuid[37];
                uuid_format(p->uuid, uuid);
                json_begin_object(&w);
                json_kv_string(&w, "type", p->type);
                json_kv_string(&w, "label", p->label);
                json_kv_string(&w, "uuid", uuid);
                json_kv_string(&w, "file", p->file);
                json_kv_string(&w, "node", p->node);
                json_kv_uint(&w, "offset", p->offset);
                json_kv_uint(&w, "old_size", p->old_size);
                json_kv_uint(&w, "raw_size", p->new_size);
                json_kv_uint(&w, "old_padding", p->old_padding);
                json_kv_uint(&w, "raw_padding", p->new_padding);
                json_kv_string(&w, "activity", p->activity);
                if (res->verity) {
                        char hex[65];
                        hex_format(p->roothash, sizeof(p->roothash), hex);
                        json_kv_string(&w, "roothash", p->has_roothash ? hex : NULL);
                }
                if (any_split)
                        json_kv_string(&w, "split_path", p->split_path);
                json_end_object(&w);
        }
        json_end_array(&w);
        json_finish(&w);
}

static void print_table(const struct repart_result *res) {
        enum { C_TYPE, C_LABEL, C_UUID, C_FILE, C_NODE, C_OFFSET, C_OLD, C_NEW, C_ACT, C_SPLIT, N_COLS };
        static const char *const head[N_COLS] = { "TYPE", "LABEL", "UUID", "FILE", "NODE", "OFFSET",
                                                  "OLD SIZE", "RAW SIZE", "ACTIVITY", "SPLIT" };
        size_t w[N_COLS];
        char cells[N_COLS][128];
        bool any_split = false;

        for (size_t k = 0; k < N_COLS; k++)
                w[k] = strlen(head[k]);
        for (int pass = 0; pass < 2; pass++) {
                if (pass == 1) {
                        for (size_t k = 0; k < N_COLS; k++)
                                if (k != C_SPLIT || any_split)
                                        printf("%-*s%s", (int) w[k], head[k], k + 1 < N_COLS && (k + 1 != C_SPLIT || any_split) ? " " : "");
                        printf("\n");
                }
                for (size_t i = 0; i < res->n; i++) {
                        const struct repart_result_partition *p = &res->partitions[i];
                        char a[16], b[16], uuid[37];
                        uuid_format(p->uuid, uuid);
                        snprintf(cells[C_TYPE], 128, "%s", p->type);
                        snprintf(cells[C_LABEL], 128, "%s", p->label);
                        snprintf(cells[C_UUID], 128, "%s", uuid);
                        snprintf(cells[C_FILE], 128, "%s", p->file);
                        snprintf(cells[C_NODE], 128, "%s", p->node);
                        snprintf(cells[C_OFFSET], 128, "%" PRIu64, p->offset);
                        snprintf(cells[C_OLD], 128, "%s", p->old_size ? format_bytes(a, p->old_size) : "-");
                        snprintf(cells[C_NEW], 128, "%s", format_bytes(b, p->new_size));
                        snprintf(cells[C_ACT], 128, "%s", p->activity);
                        snprintf(cells[C_SPLIT], 128, "%s", p->split_path ? p->split_path : "-");
                        any_split = any_split || p->split_path;
                        for (size_t k = 0; k < N_COLS; k++) {
                                if (pass == 0) {
                                        if (strlen(cells[k]) > w[k])
                                                w[k] = strlen(cells[k]);
                                } else if (k != C_SPLIT || any_split)
                                        printf("%-*s%s", (int) w[k], cells[k], k + 1 < N_COLS && (k + 1 != C_SPLIT || any_split) ? " " : "");
                        }
                        if (pass == 1)
                                printf("\n");
                }
        }
}

int verb_repart(int argc, char **argv) {
        _cleanup_strv_free_ char **defs = NULL;
        struct repart_options o = { .empty = REPART_EMPTY_REFUSE, .size = UINT64_MAX, .dry_run = true,
                                    .tpm2_pcrs = TPM2_PCRS_DEFAULT };
        enum json_mode json = JSON_OFF;

        int r = parse_args(argc, argv, &o, &defs, &json);
        if (r != 0)
                return r > 0 ? EXIT_OK : EXIT_FAIL;
        o.definitions = defs;

        struct repart_result res;
        r = repart_run(&o, &res);
        if (r < 0)
                return EXIT_FAIL;
        if (json != JSON_OFF)
                print_json(&res, json);
        else
                print_table(&res);
        if (o.dry_run && res.changed)
                log_notice("Dry run: nothing was written (use --dry-run=no to apply).");
        repart_result_done(&res);
        return EXIT_OK;
}
