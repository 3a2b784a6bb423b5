/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The command-line tool: parses arguments, calls the library, prints. No update logic here. */

#include "base/json.h"

struct image;

#include <stdbool.h>
#include <stdint.h>

/* Global options of the sysupdate-style verbs (spec sysupdate.md 10.2). */
struct cli_options {
        const char *definitions;     /* --definitions=DIR */
        const char *root;            /* --root=DIR */
        const char *image;           /* --image=FILE */
        const struct image *image_parts; /* --image: its root file system and ESP (main() opens it) */
        const char *component;       /* -C, --component=NAME */
        const char *transfer_source; /* --transfer-source=DIR */
        enum json_mode json;         /* --json= */
        int verify;                  /* --verify=BOOL, -1 = per transfer */
        bool offline;                /* --offline */
        uint64_t instances_max;      /* -m, 0 = per transfer */
        bool no_legend;              /* --no-legend */
        bool sync;                   /* --sync=BOOL, default yes */
        bool reboot;                 /* --reboot */
        bool strict;                 /* --strict: warnings about the definitions are errors */
        bool dry_run;                /* update --dry-run: print the plan only */
        const char *interval;        /* daemon: --interval=, --random-delay=, --maintenance-window=, --state-dir= */
        const char *random_delay;
        const char *maintenance_window;
        const char *state_dir;
        char **args;                 /* positional arguments after the verb */
        int n_args;
};

/* Exit codes, the only place they are defined (abota(1), EXIT STATUS). A timer or a daemon
 * tries again later on EXIT_TEMPFAIL; on EXIT_FAIL something must be fixed first. */
#define EXIT_OK 0
#define EXIT_FAIL 1        /* usage, definitions, signature, checksum, no slot, missing payload, ... */
#define EXIT_TEMPFAIL 75   /* network or server trouble, run or disk lock held (EX_TEMPFAIL) */

/* The exit code for a library error: EXIT_TEMPFAIL for the errors the library returns for a
 * temporary condition (-EAGAIN lock held, -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EHOSTUNREACH,
 * -EREMOTEIO server error), EXIT_FAIL for every other error, EXIT_OK for r >= 0. */
int cli_exit_status(int r);

/* Each verb returns a process exit code. Verbs with their own option syntax (repart, publish,
 * bless) get the raw argv starting at the verb. */
typedef int (*verb_fn)(const struct cli_options *o);
typedef int (*verb_raw_fn)(int argc, char **argv);

struct verb {
        const char *name;
        verb_fn fn;           /* sysupdate-style: global options parsed */
        verb_raw_fn raw_fn;   /* own option parser */
        int min_args, max_args;
        const char *summary;
};

const struct verb *verb_find(const char *name);

/* The option string every parser passes to getopt_long() after setting opterr = 0: a leading
 * ':' makes a missing value come back as ':', told apart from an unknown option ('?'). */
#define CLI_OPTSTRING(s) ":" s
/* Logs the option error getopt_long() just returned (c is '?' or ':') as one line in abota's
 * words, naming what was typed: "VERB: unknown option '--frob' (see abota VERB --help)", with
 * verb NULL for the global options. Returns EXIT_FAIL. */
struct option;
int cli_option_error(const char *verb, char **argv, const char *optstring, const struct option *options, int c);
void help_print(void);

/* Parses argv into o and returns the verb (NULL with a logged error on bad usage). Handles
 * --help and --version itself (returns NULL with *ret_exit set). */
const struct verb *cli_parse(int argc, char **argv, struct cli_options *o, int *ret_exit);

/* The root the definitions, os-release and components are read from: --root, or the root file
 * system of --image (mounted), or NULL (the host). */
const char *cli_root(const struct cli_options *o);

/* Convert the option struct to the library's definition options (with --image, those of the
 * image's root file system). */
struct definitions_options;
int cli_definitions_options(const struct cli_options *o, struct definitions_options *ret);

/* With --strict: -EINVAL (logged) when warnings were logged since log_warning_count() was
 * warnings_before. */
int cli_strict_check(const struct cli_options *o, unsigned warnings_before);

int verb_components(const struct cli_options *o);
struct context;
int cli_context_load(const struct cli_options *o, bool sources, bool lock, struct context **ret);
bool cli_reboot_allowed(const struct cli_options *o);
/* > 0 when a version newer than the booted one is installed, 0 if not, < 0 on error (logged). */
int cli_newer_installed(const struct cli_options *o);
int verb_list(const struct cli_options *o);
int verb_check_new(const struct cli_options *o);
int verb_update(const struct cli_options *o);
int verb_vacuum(const struct cli_options *o);
int verb_pending(const struct cli_options *o);
int verb_reboot(const struct cli_options *o);
int verb_definitions(const struct cli_options *o);
int verb_daemon(const struct cli_options *o);
int verb_status(const struct cli_options *o);
int verb_check(const struct cli_options *o);
int verb_features(const struct cli_options *o);
int verb_enable_feature(const struct cli_options *o);
int verb_disable_feature(const struct cli_options *o);
int verb_repart(int argc, char **argv);
int verb_bless(int argc, char **argv);
int verb_publish(int argc, char **argv);
int verb_unlock(int argc, char **argv);
int verb_enroll(int argc, char **argv);
/* Completes the ways to unlock volume: the TPM when neither a key file nor a recovery key is
 * given; with recovery, the key read as one line from stdin (*ret_key, to be cleared and freed). */
struct luks_unlock;
int cli_unlock_ways(const char *volume, bool recovery, struct luks_unlock *u, char **ret_key);
