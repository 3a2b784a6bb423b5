/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "base/log.h"
#include "base/util.h"
#include "crypt/luks.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void unlock_help(void) {
        printf("Usage: abota unlock [OPTIONS...] VOLUME [NAME]\n\n"
               "Open a LUKS2 volume as /dev/mapper/NAME: through the TPM (systemd-tpm2 tokens, as\n"
               "systemd-cryptenroll writes them), a key file, or a recovery key read from stdin.\n"
               "Without --key-file= or --recovery-key the TPM is used.\n\n"
               "  -h --help              Show this help\n"
               "     --test              Only check that the key opens VOLUME; no mapping, no NAME\n"
               "     --key-file=FILE     Unlock with the content of FILE\n"
               "     --recovery-key      Unlock with a recovery key read from stdin (one line)\n"
               "     --tpm2-device=DEV   TPM device node or tpm2-tss TCTI (swtpm:host=...,port=...);\n"
               "                         also tries the TPM when given with the options above\n");
}

int cli_unlock_ways(const char *volume, bool recovery, struct luks_unlock *u, char **ret) {
        *ret = NULL;
        if (!u->key_file && !recovery)
                u->tpm2 = true;
        if (!recovery)
                return 0;
        if (isatty(STDIN_FILENO))
                fprintf(stderr, "Recovery key for %s: ", volume);
        size_t n = 0;
        if (getline(ret, &n, stdin) < 0) {
                free(*ret);
                *ret = NULL;
                return log_error_errno(EINVAL, "%s: no recovery key on stdin", volume);
        }
        u->recovery_key = *ret;
        return 0;
}

int verb_unlock(int argc, char **argv) {
        enum { ARG_TEST = 0x100, ARG_KEY_FILE, ARG_RECOVERY_KEY, ARG_TPM2_DEVICE };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "test", no_argument, NULL, ARG_TEST },
                { "key-file", required_argument, NULL, ARG_KEY_FILE },
                { "recovery-key", no_argument, NULL, ARG_RECOVERY_KEY },
                { "tpm2-device", required_argument, NULL, ARG_TPM2_DEVICE },
                {}
        };
        struct luks_unlock u = {};
        bool test = false, recovery = false;
        int c;

        static const char optstring[] = CLI_OPTSTRING("h");
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, optstring, options, NULL)) >= 0)
                switch (c) {
                case 'h': unlock_help(); return EXIT_OK;
                case ARG_TEST: test = true; break;
                case ARG_KEY_FILE: u.key_file = optarg; break;
                case ARG_RECOVERY_KEY: recovery = true; break;
                case ARG_TPM2_DEVICE: u.tpm2 = true; u.tpm2_device = optarg; break;
                default: return cli_option_error("unlock", argv, optstring, options, c);
                }
        int n = argc - optind;
        if (n < 1 || n > 2 || (test && n != 1) || (!test && n != 2)) {
                log_error("unlock: expected VOLUME NAME, or --test VOLUME");
                return EXIT_FAIL;
        }
        const char *volume = argv[optind], *name = test ? NULL : argv[optind + 1];
        _cleanup_free_ char *key = NULL;
        if (cli_unlock_ways(volume, recovery, &u, &key) < 0)
                return EXIT_FAIL;
        int slot;
        const char *method;
        int r = luks_unlock(volume, name, &u, &slot, &method);
        if (key)
                explicit_bzero(key, strlen(key));
        if (r < 0) {
                if (u.tpm2 && !recovery && !u.key_file)
                        log_notice("%s: if it has a recovery key, try: abota unlock --recovery-key", volume);
                return EXIT_FAIL;
        }
        if (test)
                printf("%s: the %s opens key slot %d\n", volume, method, slot);
        else
                printf("%s: unlocked as /dev/mapper/%s with the %s (key slot %d)\n", volume, name, method, slot);
        return EXIT_OK;
}
