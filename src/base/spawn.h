/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Running external tools (gpg, gpgv, mkfs...) without a shell: fork + execv of a full path found
 * on $PATH, stdin from /dev/null, stdout and stderr captured together for the error message. */

#include <stddef.h>

/* The full path of an executable: name itself when it contains '/', else the first match in
 * $PATH (default "/usr/local/bin:/usr/bin:/bin"). -ENOENT when there is none; does not log. */
int find_executable(const char *name, char **ret);

/* Run argv (argv[0] a full path) and wait for it. Returns the exit status (0..255), 128 + the
 * signal number when it was killed, 127 when execv() failed (as a shell does), or -errno when
 * no child could be started (memfd, /dev/null, fork). The combined
 * stdout/stderr output (at most SPAWN_OUTPUT_MAX bytes, NUL-terminated) is stored in *ret_output
 * when that is not NULL. Does not log: the caller names the tool and the object. */
#define SPAWN_OUTPUT_MAX (64u * 1024)
int spawn_capture(char *const *argv, char **ret_output);

/* The most telling line of a tool's output for an error message: the first line containing the
 * first needle found (needles NULL-terminated, in order of preference), else the last non-empty line, without a leading
 * "PREFIX: " (the tool's name) and trailing whitespace. Never NULL except on OOM. */
char *spawn_output_reason(const char *output, const char *prefix, const char *const *needles);
