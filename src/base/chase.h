/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Paths below --root resolved the way openat2(RESOLVE_IN_ROOT) resolves them: every symlink,
 * absolute ones included, and every ".." are interpreted with root as "/", so the result never
 * names anything outside root. Without a root (NULL or "/") the path is taken as is, since the
 * host's own symlinks are the host's business. */

/* Missing trailing components are appended as they are (for files about to be created). */
#define CHASE_NONEXISTENT 1u

/* The host path of path (absolute or relative to root) below root. root is made absolute and
 * canonical first. -ENOENT when a component is missing (and CHASE_NONEXISTENT is not set),
 * -ELOOP after 40 symlinks, -EXDEV when the kernel reports a result outside root. */
int chase(const char *root, const char *path, unsigned flags, char **ret);
