/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "base/log.h"
#include "base/util.h"
#include "crypt/luks.h"
#include "crypt/tpm2.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void enroll_help(void) {
        printf("Usage: abota enroll [OPTIONS...] VOLUME\n\n"
               "Add key slots to a LUKS2 volume, as systemd-cryptenroll does. The volume is\n"
               "first unlocked with --unlock-key-file=, --unlock-recovery-key (stdin) or, by\n"
               "default, the TPM.\n\n"
               "  -h --help                    Show this help\n"
               "     --recovery-key            Add a recovery key; it is printed once and stored nowhere\n"
               "     --tpm2-device=DEV         Add a key sealed to this TPM (device node or TCTI)\n"
               "     --tpm2-pcrs=PCRS          PCRs to seal to, e.g. 7 or 0+7 (default 7)\n"
               "     --unlock-key-file=FILE    Unlock with the content of FILE\n"
               "     --unlock-recovery-key     Unlock with a recovery key read from stdin\n"
               "     --unlock-tpm2-device=DEV  Unlock through this TPM\n");
}

int verb_enroll(int argc, char **argv) {
        enum { ARG_RECOVERY = 0x100, ARG_TPM2_DEVICE, ARG_TPM2_PCRS, ARG_UNLOCK_KEY_FILE, ARG_UNLOCK_RECOVERY,
               ARG_UNLOCK_TPM2 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "recovery-key", no_argument, NULL, ARG_RECOVERY },
                { "tpm2-device", required_argument, NULL, ARG_TPM2_DEVICE },
                { "tpm2-pcrs", required_argument, NULL, ARG_TPM2_PCRS },
                { "unlock-key-file", required_argument, NULL, ARG_UNLOCK_KEY_FILE },
                { "unlock-recovery-key", no_argument, NULL, ARG_UNLOCK_RECOVERY },
                { "unlock-tpm2-device", required_argument, NULL, ARG_UNLOCK_TPM2 },
                {}
        };
        struct luks_unlock u = {};
        struct luks_enroll e = { .tpm2_pcrs = TPM2_PCRS_DEFAULT };
        bool recovery = false;
        int c;

        static const char optstring[] = CLI_OPTSTRING("h");
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, optstring, options, NULL)) >= 0)
                switch (c) {
                case 'h': enroll_help(); return EXIT_OK;
                case ARG_RECOVERY: e.recovery_key = true; break;
                case ARG_TPM2_DEVICE: e.tpm2 = true; e.tpm2_device = optarg; break;
                case ARG_TPM2_PCRS:
                        if (tpm2_pcr_mask_parse(optarg, &e.tpm2_pcrs) < 0) {
                                log_error("--tpm2-pcrs=%s: expected PCR numbers 0-23 separated by + or ,", optarg);
                                return EXIT_FAIL;
                        }
                        break;
                case ARG_UNLOCK_KEY_FILE: u.key_file = optarg; break;
                case ARG_UNLOCK_RECOVERY: recovery = true; break;
                case ARG_UNLOCK_TPM2: u.tpm2 = true; u.tpm2_device = optarg; break;
                default: return cli_option_error("enroll", argv, optstring, options, c);
                }
        if (argc - optind != 1) {
                log_error("enroll: expected one VOLUME");
                return EXIT_FAIL;
        }
        if (!e.recovery_key && !e.tpm2) {
                log_error("enroll: nothing to add: give --recovery-key and/or --tpm2-device=");
                return EXIT_FAIL;
        }
        const char *volume = argv[optind];
        _cleanup_free_ char *key = NULL;
        if (cli_unlock_ways(volume, recovery, &u, &key) < 0)
                return EXIT_FAIL;
        char rk[RECOVERY_KEY_LENGTH + 1] = "";
        int r = luks_enroll(volume, &u, &e, rk);
        if (key)
                explicit_bzero(key, strlen(key));
        if (r < 0)
                return EXIT_FAIL;
        if (e.tpm2)
                printf("%s: added a key slot sealed to the TPM (PCR mask 0x%x)\n", volume, e.tpm2_pcrs);
        if (e.recovery_key) {
                printf("%s: added a recovery key. Write it down now; it is stored nowhere:\n\n    %s\n\n", volume, rk);
                explicit_bzero(rk, sizeof(rk));
        }
        return EXIT_OK;
}
