/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The resource kinds the agent knows, and the entry points that pick one by Type=. A new kind
 * (resource-NAME.c with its struct resource_kind) is added to the list in resource-kinds.c. */

#include "resource.h"

/* The kind of Type= type, or NULL when it is not supported (yet). */
const struct resource_kind *resource_kind_find(enum resource_type type);

/* Resolves the configured Path= of a transfer's source or target to a concrete path (directory,
 * URL or disk), honouring PathRelativeTo=, --root and --image. Logs one line on failure. */
int resource_resolve(const struct transfer *t, bool target, const struct resource_context *ctx,
                     char **ret);

/* Resolves and enumerates. A missing directory has no instances; a missing disk, a server that
 * fails, a manifest that does not verify or a Type= without a kind is an error (logged once,
 * naming it). */
int resource_load(const struct transfer *t, bool target, const struct resource_context *ctx,
                  struct resource **ret);
