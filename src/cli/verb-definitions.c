/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "sysupdate/definitions.h"
#include "base/log.h"
#include "base/parttype.h"
#include "base/util.h"

#include <inttypes.h>
#include <stdio.h>

/* abota definitions: every transfer and feature as understood after search-path resolution,
 * specifier expansion and defaults, with the file it came from and the drop-ins applied. */

static const char *partition_type_name(const struct transfer *t, char buf[static 37]) {
        const char *n = partition_type_to_string(t->partition_type);
        if (n)
                return n;
        uuid_format(t->partition_type, buf);
        return buf;
}

static void json_kv_tristate(struct json_writer *w, const char *key, int v) {
        json_key(w, key);
        if (v < 0)
                json_null(w);
        else
                json_bool(w, v);
}

static void json_kv_opt_uint(struct json_writer *w, const char *key, bool has, uint64_t v) {
        json_key(w, key);
        if (has)
                json_uint(w, v);
        else
                json_null(w);
}

static void json_resource(struct json_writer *w, const char *key, const struct resource_config *c) {
        json_key(w, key);
        json_begin_object(w);
        json_kv_string(w, "type", resource_type_to_string(c->type));
        json_kv_string(w, "path", c->path);
        json_kv_string(w, "path_relative_to", path_relative_to_to_string(c->path_relative_to));
        json_kv_strv(w, "match_patterns", c->patterns_str);
}

static void json_transfer(struct json_writer *w, const struct transfer *t) {
        char buf[37], mode[8];
        json_begin_object(w);
        json_kv_string(w, "id", t->id);
        json_kv_string(w, "file", t->file);
        json_kv_strv(w, "dropins", t->dropins);
        json_kv_bool(w, "enabled", t->enabled);
        json_kv_string(w, "min_version", t->min_version);
        json_kv_string(w, "max_version", t->max_version);
        json_kv_strv(w, "protect_versions", t->protect_versions);
        json_kv_bool(w, "verify", t->verify);
        json_kv_strv(w, "changelog", t->changelog);
        json_kv_strv(w, "appstream", t->appstream);
        json_kv_strv(w, "features", t->features);
        json_kv_strv(w, "requisite_features", t->requisite_features);

        json_resource(w, "source", &t->source);
        json_end_object(w);

        const struct resource_config *g = &t->target;
        bool partition = g->type == RESOURCE_PARTITION;
        json_resource(w, "target", g);
        json_kv_string(w, "partition_type", partition ? partition_type_name(t, buf) : NULL);
        if (t->has_partition_uuid)
                uuid_format(t->partition_uuid, buf);
        json_kv_string(w, "partition_uuid", t->has_partition_uuid ? buf : NULL);
        json_kv_opt_uint(w, "partition_flags", t->has_partition_flags, t->partition_flags);
        json_kv_tristate(w, "partition_no_auto", t->no_auto);
        json_kv_tristate(w, "partition_grow_file_system", t->growfs);
        json_kv_tristate(w, "read_only", t->read_only);
        snprintf(mode, sizeof mode, "%04o", (unsigned) t->mode);
        json_kv_string(w, "mode", t->has_mode ? mode : NULL);
        json_kv_opt_uint(w, "tries_done", t->has_tries_done, t->tries_done);
        json_kv_opt_uint(w, "tries_left", t->has_tries_left, t->tries_left);
        json_kv_opt_uint(w, "instances_max", t->instances_max != UINT64_MAX, t->instances_max);
        json_kv_bool(w, "remove_temporary", t->remove_temporary);
        json_kv_string(w, "current_symlink", t->current_symlink);
        json_end_object(w);

        json_end_object(w);
}

static void json_feature(struct json_writer *w, const struct feature *f) {
        json_begin_object(w);
        json_kv_string(w, "id", f->id);
        json_kv_string(w, "file", f->file);
        json_kv_bool(w, "enabled", f->enabled);
        json_kv_string(w, "description", f->description);
        json_kv_string(w, "documentation", f->documentation);
        json_kv_string(w, "appstream", f->appstream);
        json_end_object(w);
}

static void print_list(const char *label, char *const *l) {
        if (strv_length(l) == 0)
                return;
        printf("  %-16s", label);
        for (size_t i = 0; l[i]; i++)
                printf("%s%s", i > 0 ? " " : "", l[i]);
        printf("\n");
}

static const char *tristate(int v) {
        return v < 0 ? NULL : v ? "yes" : "no";
}

static void print_opt(const char *label, const char *v) {
        if (v)
                printf("  %-16s%s\n", label, v);
}

static void print_opt_uint(const char *label, bool has, uint64_t v) {
        char num[32];
        if (!has)
                return;
        snprintf(num, sizeof num, "%" PRIu64, v);
        print_opt(label, num);
}

static void print_resource(const char *label, const struct resource_config *c) {
        printf("  %-16s%s %s", label, resource_type_to_string(c->type), c->path);
        if (c->path_relative_to != PATH_RELATIVE_TO_ROOT)
                printf(" (relative to %s)", path_relative_to_to_string(c->path_relative_to));
        printf("\n");
        for (size_t i = 0; c->patterns_str && c->patterns_str[i]; i++)
                printf("    %-14s%s\n", "pattern", c->patterns_str[i]);
}

static void print_transfer(const struct transfer *t) {
        char buf[37], num[32];
        printf("transfer %s (%s)\n", t->id, t->enabled ? "enabled" : "disabled");
        printf("  %-16s%s\n", "file", t->file);
        for (size_t i = 0; t->dropins && t->dropins[i]; i++)
                printf("  %-16s%s\n", "drop-in", t->dropins[i]);
        printf("  %-16s%s\n", "verify", t->verify ? "yes" : "no");
        print_opt("min-version", t->min_version);
        print_opt("max-version", t->max_version);
        print_list("protect-version", t->protect_versions);
        print_list("features", t->features);
        print_list("requisite", t->requisite_features);
        print_list("changelog", t->changelog);
        print_list("appstream", t->appstream);
        print_resource("source", &t->source);
        print_resource("target", &t->target);
        if (t->target.type == RESOURCE_PARTITION)
                print_opt("partition-type", partition_type_name(t, buf));
        if (t->has_partition_uuid) {
                uuid_format(t->partition_uuid, buf);
                print_opt("partition-uuid", buf);
        }
        if (t->has_partition_flags) {
                snprintf(num, sizeof num, "%" PRIx64, t->partition_flags);
                print_opt("partition-flags", num);
        }
        print_opt("no-auto", tristate(t->no_auto));
        print_opt("growfs", tristate(t->growfs));
        print_opt("read-only", tristate(t->read_only));
        if (t->has_mode) {
                snprintf(num, sizeof num, "%04o", (unsigned) t->mode);
                print_opt("mode", num);
        }
        print_opt_uint("tries-done", t->has_tries_done, t->tries_done);
        print_opt_uint("tries-left", t->has_tries_left, t->tries_left);
        if (t->instances_max == UINT64_MAX)
                print_opt("instances-max", "unlimited");
        print_opt_uint("instances-max", t->instances_max != UINT64_MAX, t->instances_max);
        if (!t->remove_temporary)
                print_opt("remove-temp", "no");
        print_opt("current-symlink", t->current_symlink);
}

static void print_feature(const struct feature *f) {
        printf("feature %s (%s)\n", f->id, f->enabled ? "enabled" : "disabled");
        printf("  %-16s%s\n", "file", f->file);
        print_opt("description", f->description);
        print_opt("documentation", f->documentation);
        print_opt("appstream", f->appstream);
}

int verb_definitions(const struct cli_options *o) {
        struct definitions_options opts;
        struct definitions *d;
        unsigned warnings = log_warning_count();
        if (cli_definitions_options(o, &opts) < 0 || definitions_load(&opts, &d) < 0)
                return EXIT_FAIL;
        if (cli_strict_check(o, warnings) < 0) {
                definitions_free(d);
                return EXIT_FAIL;
        }

        if (o->json != JSON_OFF) {
                struct json_writer w;
                json_init(&w, stdout, o->json);
                json_begin_object(&w);
                json_kv_string(&w, "image_version", d->os_image_version);
                json_kv_strv(&w, "search_dirs", d->search_dirs);
                json_key(&w, "transfers");
                json_begin_array(&w);
                for (size_t i = 0; i < d->n_transfers; i++)
                        json_transfer(&w, d->transfers[i]);
                json_end_array(&w);
                json_key(&w, "features");
                json_begin_array(&w);
                for (size_t i = 0; i < d->n_features; i++)
                        json_feature(&w, d->features[i]);
                json_end_array(&w);
                json_end_object(&w);
                json_finish(&w);
        } else {
                for (size_t i = 0; i < d->n_transfers; i++) {
                        if (i > 0)
                                printf("\n");
                        print_transfer(d->transfers[i]);
                }
                for (size_t i = 0; i < d->n_features; i++) {
                        printf("\n");
                        print_feature(d->features[i]);
                }
        }
        definitions_free(d);
        return EXIT_OK;
}
