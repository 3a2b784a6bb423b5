/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* systemd-style INI files and the conf-files search logic shared by sysupdate.d and repart.d.
 *
 * Syntax (systemd conf-parser): '#' or ';' starts a comment line; "[Section]" headers; "Key=Value"
 * with whitespace around key and value stripped; a trailing backslash continues the line (the
 * backslash becomes a space, comment lines inside a continuation are skipped); an empty value is
 * passed through as "" so list settings can reset. Errors are logged as "FILE:LINE: reason". */

#include <stdbool.h>
#include <stdint.h>

/* Called for every assignment, in file order. Returning < 0 stops parsing with that error; the
 * callback logs its own message naming file:line. */
typedef int (*conf_assign_fn)(const char *file, unsigned line, const char *section, const char *key,
                              const char *value, void *userdata);

/* Parse one file. Assignments outside any section are an error. */
int conf_parse_file(const char *path, conf_assign_fn fn, void *userdata);

/* Parse path, then its drop-ins: "NAME.d/ *.conf" (NAME = basename of path) from every directory in
 * dirs (prefixed with root), merged with the conf-files rules below and applied in basename order. */
int conf_parse_file_with_dropins(const char *root, const char *const *dirs, const char *path,
                                 conf_assign_fn fn, void *userdata);
/* The same, handing back the drop-ins it applied, in that order (NULL-terminated), on success. */
int conf_parse_file_with_dropins_list(const char *root, const char *const *dirs, const char *path,
                                      conf_assign_fn fn, void *userdata, char ***ret_dropins);

/* The drop-in files conf_parse_file_with_dropins() applies to path, in the order it applies them. */
int conf_dropins_list(const char *root, const char *const *dirs, const char *path, char ***ret);

/* The union of files ending in suffix in dirs (highest priority first, each prefixed with root).
 * A name found in an earlier dir hides the same name in later dirs; a symlink to /dev/null or an
 * empty file masks it (it is dropped from the result). Sorted by basename. ret is NULL-terminated
 * and holds full paths. A missing directory is not an error. */
int conf_files_list(const char *root, const char *const *dirs, const char *suffix, char ***ret);

/* Directory entries named "PREFIX*SUFFIX" that are directories, same precedence rules; used
 * for sysupdate.NAME.d component discovery. Returns the matching names (not paths), sorted. */
int conf_dirs_list(const char *root, const char *const *dirs, const char *prefix, const char *suffix,
                   char ***ret);

/* Typed values, with systemd's rule that a value which fails to parse is ignored with a warning
 * naming FILE:LINE (callers decide which settings are fatal instead). They return 0 when *ret was
 * set, 1 when the setting was ignored (warning logged), or -ENOMEM. An empty value resets: the
 * tristate to -1, the number to unset; the boolean keeps its value. */
struct specifier_context;
int conf_value_expand(const struct specifier_context *c, const char *file, unsigned line, const char *key,
                      const char *value, char **ret); /* %-specifiers; unknown ones warn */
int conf_value_url(const struct specifier_context *c, const char *file, unsigned line, const char *key,
                   const char *value, char **ret);    /* expanded, must be http:// or https:// */
int conf_value_bool(const char *file, unsigned line, const char *key, const char *value, bool *ret);
int conf_value_tristate(const char *file, unsigned line, const char *key, const char *value, int *ret);
int conf_value_uint64(const char *file, unsigned line, const char *key, const char *value, bool *has,
                      uint64_t *ret);
bool conf_is_http_url(const char *s);
