/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include "agent/context.h"
#include "base/log.h"
#include "agent/partition.h"
#include "agent/resource.h"
#include "sysupdate/transfer.h"
#include "agent/update.h"
#include "agent/updateset.h"
#include "base/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const char *state_glyph(unsigned f) {
        if (f & UPDATE_OBSOLETE)
                return glyph("\u00d7", "x");
        if ((f & (UPDATE_INSTALLED | UPDATE_NEWEST)) == (UPDATE_INSTALLED | UPDATE_NEWEST))
                return glyph("\u25cf", "*");
        if ((f & (UPDATE_AVAILABLE | UPDATE_NEWEST | UPDATE_INSTALLED)) == (UPDATE_AVAILABLE | UPDATE_NEWEST))
                return glyph("\u21bb", "*");
        if ((f & (UPDATE_INSTALLED | UPDATE_PROTECTED)) == (UPDATE_INSTALLED | UPDATE_PROTECTED))
                return glyph("\u25cb", "*");
        return " ";
}

static int list_all(const struct cli_options *o, const struct context *c) {
        const struct update_sets *s = c->sets;
        if (o->json != JSON_OFF) {
                struct json_writer w;
                json_init(&w, stdout, o->json);
                json_begin_object(&w);
                json_kv_string(&w, "current", s->newest_installed ? s->newest_installed->version : NULL);
                json_key(&w, "all");
                json_begin_array(&w);
                for (size_t i = 0; i < s->n_sets; i++)
                        json_string(&w, s->sets[i]->version);
                json_end_array(&w);
                json_key(&w, "appstreamUrls");
                json_begin_array(&w);
                json_end_array(&w);
                json_end_object(&w);
                json_finish(&w);
                return EXIT_OK;
        }
        if (s->n_sets == 0) {
                log_notice("No updates installed or available.");
                return EXIT_OK;
        }
        size_t width = 7;
        for (size_t i = 0; i < s->n_sets; i++)
                if (strlen(s->sets[i]->version) > width)
                        width = strlen(s->sets[i]->version);
        if (!o->no_legend)
                printf("  %-*s INSTALLED AVAILABLE ASSESSMENT\n", (int) width, "VERSION");
        for (size_t i = 0; i < s->n_sets; i++) {
                const struct update_set *u = s->sets[i];
                const char *check = glyph("\u2713", "+");
                printf("%s %-*s     %s         %s     %s\n", state_glyph(u->flags), (int) width, u->version,
                       u->flags & UPDATE_INSTALLED ? check : " ", u->flags & UPDATE_AVAILABLE ? check : " ",
                       update_set_assessment(u->flags));
        }
        return EXIT_OK;
}

enum { COL_TYPE, COL_PATH, COL_PTUUID, COL_PTFLAGS, COL_MTIME, COL_MODE, COL_SIZE, COL_TRIES_DONE,
       COL_TRIES_LEFT, COL_RO, COL_SHA256, _COL_MAX };
static const char *const col_names[_COL_MAX] = { "type", "path", "ptuuid", "ptflags", "mtime", "mode", "size",
                                                 "tries-done", "tries-left", "ro", "sha256" };

/* A row of an installed instance, or (source) of one only available: that row names the source's
 * type and shows its hash, and its mtime and mode unless the target is a partition, as systemd
 * 257 does. */
static void row_cells(const struct transfer *t, const struct instance *i, bool source, char *cells[_COL_MAX]) {
        const struct instance_metadata *m = &i->metadata;
        char uuid[37], when[64];
        cells[COL_TYPE] = strdup(resource_type_to_string(source ? t->source.type : t->target.type));
        cells[COL_PATH] = strdup(i->path);
        if (!source) {
                if (i->partition) {
                        uuid_format(i->partition->uuid, uuid);
                        cells[COL_PTUUID] = strdup(uuid);
                        cells[COL_PTFLAGS] = strprintf("0x%" PRIx64, i->partition->flags);
                }
                if (m->has_mtime && !i->partition)
                        cells[COL_MTIME] = strdup(format_timestamp(when, m->mtime));
                if (m->has_mode && !i->partition)
                        cells[COL_MODE] = strprintf("%04o", (unsigned) m->mode);
                if (m->has_size)
                        cells[COL_SIZE] = strprintf("%" PRIu64, m->size);
                if (m->has_tries_done)
                        cells[COL_TRIES_DONE] = strprintf("%" PRIu64, m->tries_done);
                if (m->has_tries_left)
                        cells[COL_TRIES_LEFT] = strprintf("%" PRIu64, m->tries_left);
                if (m->read_only >= 0)
                        cells[COL_RO] = strdup(m->read_only ? "yes" : "no");
        }
        /* a source's own file times and mode, unless they go into a partition */
        if (source && t->target.type != RESOURCE_PARTITION) {
                if (m->has_mtime)
                        cells[COL_MTIME] = strdup(format_timestamp(when, m->mtime));
                if (m->has_mode)
                        cells[COL_MODE] = strprintf("%04o", (unsigned) m->mode);
        }
        if (m->has_sha256) {
                cells[COL_SHA256] = malloc(65);
                if (cells[COL_SHA256])
                        hex_format(m->sha256, 32, cells[COL_SHA256]);
        }
}

/* One cell as systemd-sysupdate 257 types it in JSON: numbers for flags, times, modes, sizes and
 * tries, a boolean for ro, null where this row has no value. */
static void json_cell(struct json_writer *w, size_t col, const struct instance *i, const char *text) {
        const struct instance_metadata *m = &i->metadata;
        json_key(w, col_names[col]);
        if (!text) {
                json_null(w);
                return;
        }
        switch (col) {
        case COL_PTFLAGS:
                json_uint(w, i->partition->flags);
                break;
        case COL_MTIME:
                json_uint(w, m->mtime);
                break;
        case COL_MODE:
                json_uint(w, m->mode);
                break;
        case COL_SIZE:
                json_uint(w, m->size);
                break;
        case COL_TRIES_DONE:
                json_uint(w, m->tries_done);
                break;
        case COL_TRIES_LEFT:
                json_uint(w, m->tries_left);
                break;
        case COL_RO:
                json_bool(w, m->read_only > 0);
                break;
        default:
                json_string(w, text);
        }
}

static void json_flags(struct json_writer *w, const struct update_set *u) {
        json_kv_string(w, "version", u->version);
        json_kv_bool(w, "newest", u->flags & UPDATE_NEWEST);
        json_kv_bool(w, "available", u->flags & UPDATE_AVAILABLE);
        json_kv_bool(w, "installed", u->flags & UPDATE_INSTALLED);
        json_kv_bool(w, "obsolete", u->flags & UPDATE_OBSOLETE);
        json_kv_bool(w, "protected", u->flags & UPDATE_PROTECTED);
        json_kv_bool(w, "incomplete", u->flags & UPDATE_INCOMPLETE);
        json_key(w, "changelogUrls");
        json_begin_array(w);
        json_end_array(w);
}

static void print_header(const struct update_set *u) {
        printf("    Version: %s\n      State: %s\n  Installed: %s%s%s\n  Available: %s\n  Protected: %s\n   Obsolete: %s\n\n",
               u->version, update_set_assessment(u->flags), u->flags & UPDATE_INSTALLED ? "yes" : "no",
               u->flags & UPDATE_NEWEST ? " (newest)" : "", u->flags & UPDATE_INCOMPLETE ? " (incomplete)" : "",
               u->flags & UPDATE_AVAILABLE ? "yes" : "no", u->flags & UPDATE_PROTECTED ? "yes" : "no",
               u->flags & UPDATE_OBSOLETE ? "yes" : "no");
}

static void print_not_offered(char *const *why) {
        if (!why)
                return;
        printf("\nNot offered:\n");
        for (char *const *l = why; *l; l++)
                printf("  %s\n", *l);
}

/* A version no set holds (a transfer lacks it at the source): what is known of it, and why. */
static int list_unoffered(const char *version, char *const *why) {
        printf("    Version: %s\n      State: not offered\n", version);
        print_not_offered(why);
        return EXIT_OK;
}

static int list_version(const struct cli_options *o, struct context *c, const char *version) {
        const struct update_set *u = update_sets_find(c->sets, version);
        _cleanup_strv_free_ char **why = NULL;
        /* The reasons for people only (the JSON stays systemd 257's), and only when the sources
         * were read: offline, a version is what is installed. */
        int known = c->sources && o->json == JSON_OFF ? update_explain(c, u ? u->version : version, &why) : 0;
        if (known < 0)
                return cli_exit_status(known);
        if (!u && known > 0)
                return list_unoffered(version, why);
        if (!u) {
                log_error("version %s is neither installed nor available", version);
                return EXIT_FAIL;
        }
        /* one row per instance: the installed one, else the one at the source */
        size_t n = 0;
        char *(*rows)[_COL_MAX] = calloc(2 * c->n + 1, sizeof(*rows));
        const struct instance **inst = calloc(2 * c->n + 1, sizeof(*inst));
        if (!rows || !inst) {
                free(rows);
                free(inst);
                return EXIT_FAIL;
        }
        for (size_t k = 0; k < c->n; k++) {
                const struct instance *i = u->installed[k] ? u->installed[k] : u->available[k];
                if (i) {
                        inst[n] = i;
                        row_cells(c->transfers[k], i, !u->installed[k], rows[n++]);
                }
        }

        bool shown[_COL_MAX] = {};
        size_t width[_COL_MAX] = {};
        for (size_t col = 0; col < _COL_MAX; col++) {
                width[col] = strlen(col_names[col]);
                for (size_t r = 0; r < n; r++)
                        if (rows[r][col]) {
                                shown[col] = true;
                                if (strlen(rows[r][col]) > width[col])
                                        width[col] = strlen(rows[r][col]);
                        }
        }

        if (o->json != JSON_OFF) {
                struct json_writer w;
                json_init(&w, stdout, o->json);
                json_begin_object(&w);
                json_flags(&w, u);
                json_key(&w, "contents");
                json_begin_array(&w);
                /* as in the table, a column empty in every row is left out */
                for (size_t r = 0; r < n; r++) {
                        json_begin_object(&w);
                        for (size_t col = 0; col < _COL_MAX; col++)
                                if (shown[col])
                                        json_cell(&w, col, inst[r], rows[r][col]);
                        json_end_object(&w);
                }
                json_end_array(&w);
                json_end_object(&w);
                json_finish(&w);
        } else {
                print_header(u);
                for (size_t col = 0; col < _COL_MAX && !o->no_legend; col++)
                        if (shown[col]) {
                                char head[16];
                                size_t l = 0;
                                for (; col_names[col][l]; l++)
                                        head[l] = (char) toupper((unsigned char) col_names[col][l]);
                                head[l] = 0;
                                printf("%-*s%s", (int) width[col], head, col + 1 < _COL_MAX ? " " : "");
                        }
                if (!o->no_legend)
                        putchar('\n');
                for (size_t r = 0; r < n; r++) {
                        for (size_t col = 0; col < _COL_MAX; col++)
                                if (shown[col])
                                        printf("%-*s ", (int) width[col], rows[r][col] ? rows[r][col] : "-");
                        putchar('\n');
                }
                print_not_offered(why);
        }
        for (size_t r = 0; r < n; r++)
                for (size_t col = 0; col < _COL_MAX; col++)
                        free(rows[r][col]);
        free(rows);
        free(inst);
        return EXIT_OK;
}

/* abota list [VERSION] (spec sysupdate.md 10.3). With the update sources out of reach (a
 * temporary failure), the installed versions all the same, then the error with a hint, and the
 * exit status of "try again later". */
int verb_list(const struct cli_options *o) {
        struct context *c = NULL;
        log_hold_errors(!o->offline);
        int r = cli_context_load(o, true, false, &c);
        log_hold_errors(false);
        if (r < 0) {
                int status = cli_exit_status(r);
                if (status != EXIT_TEMPFAIL) {
                        log_print_held_errors(NULL);
                        return status;
                }
                struct cli_options offline = *o;
                offline.offline = true;
                if (cli_context_load(&offline, false, false, &c) >= 0) {
                        r = o->n_args > 0 ? list_version(&offline, c, o->args[0]) : list_all(&offline, c);
                        context_free(c);
                        fflush(stdout);
                }
                log_print_held_errors("; showing the installed versions only (--offline skips the update sources)");
                return status;
        }
        r = o->n_args > 0 ? list_version(o, c, o->args[0]) : list_all(o, c);
        context_free(c);
        return r;
}
