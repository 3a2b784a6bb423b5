/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* %-specifiers of sysupdate.d and repart.d (spec sysupdate.md 2.5). os-release is read from the
 * root given at context creation (etc/os-release, falling back to usr/lib/os-release). */

struct specifier_context;

int specifier_context_new(const char *root, struct specifier_context **ret);
void specifier_context_free(struct specifier_context *c);

/* Value of an os-release field ("IMAGE_VERSION" ...), NULL when unset. */
const char *specifier_os_release(const struct specifier_context *c, const char *field);

/* Expand every %x in s. An unknown specifier returns -EBADMSG (the caller warns, naming file:line,
 * and ignores the setting, as systemd does); -ENOMEM otherwise. Missing os-release fields expand to
 * ""; %m without a machine-id and %b without a boot id return -ENXIO. extra: optional additional
 * specifiers "xVALUE" (first char the letter) used by repart's SplitName= (%t %T %U %n);
 * NULL-terminated, may be NULL. */
int specifier_expand(const struct specifier_context *c, const char *s, char *const *extra, char **ret);
