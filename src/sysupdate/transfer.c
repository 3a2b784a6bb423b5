/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "transfer.h"

#include "base/conf.h"
#include "base/log.h"
#include "base/parttype.h"
#include "base/specifier.h"
#include "base/util.h"
#include "version.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static const char *const resource_type_table[_RESOURCE_TYPE_MAX] = {
        [RESOURCE_URL_FILE] = "url-file",         [RESOURCE_URL_TAR] = "url-tar",
        [RESOURCE_TAR] = "tar",                   [RESOURCE_REGULAR_FILE] = "regular-file",
        [RESOURCE_DIRECTORY] = "directory",       [RESOURCE_SUBVOLUME] = "subvolume",
        [RESOURCE_PARTITION] = "partition",
};

static const char *const path_relative_to_table[_PATH_RELATIVE_TO_MAX] = {
        [PATH_RELATIVE_TO_ROOT] = "root",         [PATH_RELATIVE_TO_ESP] = "esp",
        [PATH_RELATIVE_TO_XBOOTLDR] = "xbootldr", [PATH_RELATIVE_TO_BOOT] = "boot",
        [PATH_RELATIVE_TO_EXPLICIT] = "explicit",
};

const char *resource_type_to_string(enum resource_type t) {
        return string_table_to_string(resource_type_table, ELEMENTSOF(resource_type_table), t);
}

enum resource_type resource_type_from_string(const char *s) {
        return string_table_from_string(resource_type_table, ELEMENTSOF(resource_type_table), s);
}

const char *path_relative_to_to_string(enum path_relative_to r) {
        return string_table_to_string(path_relative_to_table, ELEMENTSOF(path_relative_to_table), r);
}

enum path_relative_to path_relative_to_from_string(const char *s) {
        return string_table_from_string(path_relative_to_table, ELEMENTSOF(path_relative_to_table), s);
}

bool resource_type_is_url(enum resource_type t) {
        return t == RESOURCE_URL_FILE || t == RESOURCE_URL_TAR;
}

static void patterns_clear(struct resource_config *c) {
        strv_free(c->patterns_str);
        for (size_t i = 0; i < c->n_patterns; i++)
                pattern_free(c->patterns[i]);
        free(c->patterns);
        c->patterns_str = NULL;
        c->patterns = NULL;
        c->n_patterns = 0;
}

static void resource_config_done(struct resource_config *c) {
        free(c->path);
        c->path = NULL;
        patterns_clear(c);
}

void transfer_free(struct transfer *t) {
        if (!t)
                return;
        free(t->id);
        free(t->file);
        strv_free(t->dropins);
        free(t->min_version);
        free(t->max_version);
        strv_free(t->protect_versions);
        strv_free(t->changelog);
        strv_free(t->appstream);
        strv_free(t->features);
        strv_free(t->requisite_features);
        resource_config_done(&t->source);
        resource_config_done(&t->target);
        free(t->current_symlink);
        free(t);
}

/* Where a setting was made, for whole-transfer checks that run after parsing. */
struct where {
        const char *file;
        unsigned line;
};

struct parser {
        const struct transfer_parse_options *o;
        struct transfer *t;
        struct where source_type, target_type, source_path, target_path, source_relto, target_relto,
                target_patterns, current_symlink;
        bool partition_type_set, instances_max_set;
};

/* A typed value that was ignored (1: warned already) still counts as a known key. */
static int handled(int r) {
        return r < 0 ? r : 0;
}

static const struct specifier_context *specifiers(const struct parser *p) {
        return p->o ? p->o->specifiers : NULL;
}

/* Logs "FILE:LINE: reason" (or "FILE: reason" without a line) and returns -EINVAL. */
static int fail_va(const char *file, unsigned line, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static int fail_va(const char *file, unsigned line, const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        if (line > 0)
                return log_error_errno(EINVAL, "%s:%u: %s", file, line, msg ? msg : fmt);
        return log_error_errno(EINVAL, "%s: %s", file, msg ? msg : fmt);
}

static int fail_at(const char *file, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(const char *file, unsigned line, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = fail_va(file, line, fmt, ap);
        va_end(ap);
        return r;
}

/* The same at a recorded position, or naming only fallback_file when the setting was not made. */
static int fail_where(const struct where *w, const char *fallback_file, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int fail_where(const struct where *w, const char *fallback_file, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = fail_va(w->file ? w->file : fallback_file, w->file ? w->line : 0, fmt, ap);
        va_end(ap);
        return r;
}

/* Whitespace-separated words with C-style escapes (\x20, \\, \t, \n); quotes are not special
 * (spec sysupdate.md 2.2). On a bad escape returns -EINVAL. */
static int split_unescape(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        const char *p = s;
        for (;;) {
                while (isspace((unsigned char) *p))
                        p++;
                if (!*p)
                        break;
                _cleanup_free_ char *w = malloc(strlen(p) + 1);
                if (!w)
                        return -ENOMEM;
                size_t n = 0;
                for (; *p && !isspace((unsigned char) *p); p++) {
                        if (*p != '\\') {
                                w[n++] = *p;
                                continue;
                        }
                        p++;
                        int hi, lo;
                        switch (*p) {
                        case '\\': w[n++] = '\\'; break;
                        case 't': w[n++] = '\t'; break;
                        case 'n': w[n++] = '\n'; break;
                        case 's': w[n++] = ' '; break;
                        case 'x':
                                hi = unhexchar(p[1]);
                                lo = hi < 0 ? -1 : unhexchar(p[2]);
                                if (lo < 0 || (hi == 0 && lo == 0))
                                        return -EINVAL;
                                w[n++] = (char) (hi << 4 | lo);
                                p += 2;
                                break;
                        default:
                                return -EINVAL;
                        }
                }
                w[n] = 0;
                if (strv_push(&l, TAKE_PTR(w)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int patterns_add(struct resource_config *c, const char *s, const char **ret_reason) {
        if (strv_contains(c->patterns_str, s))
                return 0; /* duplicates are dropped */
        struct pattern *pat;
        int r = pattern_compile(s, &pat, ret_reason);
        if (r < 0)
                return r;
        struct pattern **m = realloc(c->patterns, sizeof(*m) * (c->n_patterns + 1));
        if (!m) {
                pattern_free(pat);
                return -ENOMEM;
        }
        c->patterns = m;
        c->patterns[c->n_patterns++] = pat;
        return strv_extend(&c->patterns_str, s);
}

static int parse_match_pattern(struct parser *p, const char *file, unsigned line, struct resource_config *c,
                               const char *value) {
        if (isempty(value)) {
                patterns_clear(c);
                return 0;
        }
        _cleanup_strv_free_ char **words = NULL;
        int r = split_unescape(value, &words);
        if (r == -EINVAL)
                return fail_at(file, line, "MatchPattern=%s: invalid escape sequence", value);
        if (r < 0)
                return r;
        for (size_t i = 0; words[i]; i++) {
                _cleanup_free_ char *e = NULL;
                r = conf_value_expand(specifiers(p), file, line, "MatchPattern", words[i], &e);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                const char *reason = NULL;
                r = patterns_add(c, e, &reason);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        /* The raw value: a decoded word may hold a line break (\n escape). */
                        return fail_at(file, line, "MatchPattern=%s: %s", value, reason ? reason : "invalid pattern");
        }
        return 0;
}

/* ChangeLog=, AppStream=: http(s) URLs, repeatable, empty resets. */
static int parse_url_list(struct parser *p, const char *file, unsigned line, const char *key, const char *value,
                          char ***list) {
        if (isempty(value)) {
                strv_free(*list);
                *list = NULL;
                return 0;
        }
        _cleanup_free_ char *e = NULL;
        int r = conf_value_url(specifiers(p), file, line, key, value, &e);
        if (r != 0)
                return r < 0 ? r : 0;
        return strv_contains(*list, e) ? 0 : strv_extend(list, e);
}

static bool feature_name_is_valid(const char *s) {
        return filename_is_valid(s) && !strchr(s, '%');
}

static int parse_feature_list(const char *file, unsigned line, const char *key, const char *value, char ***list) {
        if (isempty(value)) {
                strv_free(*list);
                *list = NULL;
                return 0;
        }
        _cleanup_strv_free_ char **words = NULL;
        if (strv_split_whitespace(value, &words) < 0)
                return -ENOMEM;
        for (size_t i = 0; words[i]; i++) {
                if (!feature_name_is_valid(words[i])) {
                        log_warning("%s:%u: %s=: '%s' is not a valid feature name, ignoring", file, line, key, words[i]);
                        continue;
                }
                if (!strv_contains(*list, words[i]) && strv_extend(list, words[i]) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int parse_version_key(struct parser *p, const char *file, unsigned line, const char *key, const char *value,
                             char **field) {
        if (isempty(value)) {
                free(*field);
                *field = NULL;
                return 0;
        }
        /* A bound that cannot be applied must not be silently dropped: fatal (issue acceptance),
         * with one message, so no conf_value_expand() warning first. */
        _cleanup_free_ char *e = NULL;
        int r = specifier_expand(specifiers(p), value, NULL, &e);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail_at(file, line, "%s=%s: unknown or unavailable %%-specifier", key, value);
        if (!version_is_valid(e))
                return streq(e, value) ? fail_at(file, line, "%s=%s: not a valid version", key, value)
                                       : fail_at(file, line, "%s=%s: '%s' is not a valid version", key, value, e);
        free(*field);
        *field = TAKE_PTR(e);
        return 0;
}

static int parse_protect_version(struct parser *p, const char *file, unsigned line, const char *value) {
        struct transfer *t = p->t;
        if (isempty(value)) {
                strv_free(t->protect_versions);
                t->protect_versions = NULL;
                return 0;
        }
        _cleanup_free_ char *e = NULL;
        int r = conf_value_expand(specifiers(p), file, line, "ProtectVersion", value, &e);
        if (r != 0)
                return r < 0 ? r : 0;
        if (isempty(e)) {
                if (p->o->build_host)
                        return 0;
                log_warning("%s:%u: ProtectVersion=%s expands to nothing (field unset in os-release?), ignoring",
                            file, line, value);
                return 0;
        }
        if (!version_is_valid(e)) {
                log_warning("%s:%u: ProtectVersion=%s is not a valid version, ignoring", file, line, e);
                return 0;
        }
        return strv_contains(t->protect_versions, e) ? 0 : strv_extend(&t->protect_versions, e);
}

static int parse_type(const char *file, unsigned line, const char *section, const char *value, bool source,
                      enum resource_type *field, struct where *w) {
        enum resource_type type = resource_type_from_string(value);
        if (type < 0)
                return fail_at(file, line, "[%s] Type=%s: unknown resource type", section, value);
        if (source && type == RESOURCE_PARTITION)
                return fail_at(file, line, "[Source] Type=partition: a partition cannot be a source");
        if (!source && (resource_type_is_url(type) || type == RESOURCE_TAR))
                return fail_at(file, line, "[Target] Type=%s: only a source can have this type", value);
        *field = type;
        *w = (struct where) { file, line };
        return 0;
}

/* A string setting: *field becomes the expanded value, or NULL for an empty one. Returns 0 when
 * a value was set, 1 when reset or ignored (warned), < 0 on error. */
static int set_expanded(const struct parser *p, const char *file, unsigned line, const char *key, const char *value,
                        char **field) {
        if (isempty(value)) {
                free(*field);
                *field = NULL;
                return 1;
        }
        char *e = NULL;
        int r = conf_value_expand(specifiers(p), file, line, key, value, &e);
        if (r != 0)
                return r;
        free(*field);
        *field = e;
        return 0;
}

static int parse_path(struct parser *p, const char *file, unsigned line, struct resource_config *c, const char *value,
                      struct where *w) {
        int r = set_expanded(p, file, line, "Path", value, &c->path);
        if (r == 0)
                *w = (struct where) { file, line };
        c->path_auto = streq_ptr(c->path, "auto");
        return r < 0 ? r : 0;
}

static int parse_relto(const char *file, unsigned line, const char *section, const char *value,
                       enum path_relative_to *field, struct where *w) {
        if (isempty(value)) {
                *field = PATH_RELATIVE_TO_ROOT;
                return 0;
        }
        /* Fatal, unlike most parse failures: ignoring it would write to the wrong file system. */
        enum path_relative_to r = path_relative_to_from_string(value);
        if (r < 0)
                return fail_at(file, line, "[%s] PathRelativeTo=%s: expected root, esp, xbootldr, boot or explicit",
                               section, value);
        *field = r;
        *w = (struct where) { file, line };
        return 0;
}

static int assign_transfer(struct parser *p, const char *file, unsigned line, const char *key, const char *value) {
        struct transfer *t = p->t;
        if (streq(key, "MinVersion"))
                return parse_version_key(p, file, line, key, value, &t->min_version);
        if (streq(key, "MaxVersion"))
                return parse_version_key(p, file, line, key, value, &t->max_version);
        if (streq(key, "ProtectVersion"))
                return parse_protect_version(p, file, line, value);
        if (streq(key, "Verify"))
                return handled(conf_value_bool(file, line, key, value, &t->verify));
        if (streq(key, "ChangeLog"))
                return parse_url_list(p, file, line, key, value, &t->changelog);
        if (streq(key, "AppStream"))
                return parse_url_list(p, file, line, key, value, &t->appstream);
        if (streq(key, "Features"))
                return parse_feature_list(file, line, key, value, &t->features);
        if (streq(key, "RequisiteFeatures"))
                return parse_feature_list(file, line, key, value, &t->requisite_features);
        return 1;
}

static int assign_source(struct parser *p, const char *file, unsigned line, const char *key, const char *value) {
        struct resource_config *c = &p->t->source;
        if (streq(key, "Type"))
                return parse_type(file, line, "Source", value, true, &c->type, &p->source_type);
        if (streq(key, "Path"))
                return parse_path(p, file, line, c, value, &p->source_path);
        if (streq(key, "PathRelativeTo"))
                return parse_relto(file, line, "Source", value, &c->path_relative_to, &p->source_relto);
        if (streq(key, "MatchPattern"))
                return parse_match_pattern(p, file, line, c, value);
        return 1;
}

static int parse_mode(const char *file, unsigned line, const char *value, struct transfer *t) {
        uint64_t u;
        if (isempty(value)) {
                t->has_mode = false;
                return 0;
        }
        if (parse_uint64(value, 8, &u) < 0 || u > 07777) {
                log_warning("%s:%u: Mode=%s is not an octal access mode, ignoring", file, line, value);
                return 0;
        }
        t->mode = (mode_t) u;
        t->has_mode = true;
        return 0;
}

static int parse_instances_max(struct parser *p, const char *file, unsigned line, const char *value) {
        uint64_t u;
        if (isempty(value)) {
                p->instances_max_set = false;
                return 0;
        }
        if (parse_uint64(value, 10, &u) < 0) {
                log_warning("%s:%u: InstancesMax=%s is not an unsigned integer, ignoring", file, line, value);
                return 0;
        }
        if (u == 0) { /* newer releases: 0 means the default (classic bumped it to 2) */
                p->instances_max_set = false;
                return 0;
        }
        if (u == 1) {
                log_warning("%s:%u: InstancesMax=1 leaves no room for an update, using 2", file, line);
                u = 2;
        }
        p->t->instances_max = u;
        p->instances_max_set = true;
        return 0;
}

/* Drops "//", "/./" and a trailing "/" (spec 2.3: CurrentSymlink= is simplified). ".." is kept:
 * it cannot be resolved without the file system. */
static void path_simplify_inplace(char *s) {
        char *o = s;
        bool absolute = *s == '/';
        for (const char *p = s; *p;) {
                while (*p == '/')
                        p++;
                size_t n = strcspn(p, "/");
                if (n == 0)
                        break;
                if (!(n == 1 && p[0] == '.')) {
                        if (o > s || absolute)
                                *o++ = '/';
                        memmove(o, p, n);
                        o += n;
                }
                p += n;
        }
        if (o == s && absolute)
                *o++ = '/';
        *o = 0;
}

static int assign_target(struct parser *p, const char *file, unsigned line, const char *key, const char *value) {
        struct transfer *t = p->t;
        struct resource_config *c = &t->target;
        if (streq(key, "Type"))
                return parse_type(file, line, "Target", value, false, &c->type, &p->target_type);
        if (streq(key, "Path"))
                return parse_path(p, file, line, c, value, &p->target_path);
        if (streq(key, "PathRelativeTo"))
                return parse_relto(file, line, "Target", value, &c->path_relative_to, &p->target_relto);
        if (streq(key, "MatchPattern")) {
                p->target_patterns = (struct where) { file, line };
                return parse_match_pattern(p, file, line, c, value);
        }
        if (streq(key, "MatchPartitionType")) {
                if (isempty(value)) {
                        p->partition_type_set = false;
                        return 0;
                }
                /* Fatal, unlike most parse failures: ignoring it would select linux-generic
                 * partitions, possibly ones holding other data. */
                if (partition_type_from_string(value, t->partition_type) < 0)
                        return fail_at(file, line, "MatchPartitionType=%s: unknown partition type", value);
                p->partition_type_set = true;
                return 0;
        }
        if (streq(key, "PartitionUUID")) {
                if (isempty(value))
                        t->has_partition_uuid = false;
                else if (uuid_parse(value, t->partition_uuid) < 0)
                        log_warning("%s:%u: PartitionUUID=%s is not a UUID, ignoring", file, line, value);
                else
                        t->has_partition_uuid = true;
                return 0;
        }
        if (streq(key, "PartitionFlags")) {
                /* Newer releases read hexadecimal (an optional 0x is accepted); classic ones read
                 * decimal. We follow the newer behaviour (spec sysupdate.md 2.3, verify). */
                uint64_t u;
                if (isempty(value))
                        t->has_partition_flags = false;
                else if (parse_uint64(startswith(value, "0x") ? value + 2 : value, 16, &u) < 0)
                        log_warning("%s:%u: PartitionFlags=%s is not a hexadecimal number, ignoring", file, line, value);
                else {
                        t->partition_flags = u;
                        t->has_partition_flags = true;
                }
                return 0;
        }
        if (streq(key, "PartitionNoAuto"))
                return handled(conf_value_tristate(file, line, key, value, &t->no_auto));
        if (streq(key, "PartitionGrowFileSystem"))
                return handled(conf_value_tristate(file, line, key, value, &t->growfs));
        if (streq(key, "ReadOnly"))
                return handled(conf_value_tristate(file, line, key, value, &t->read_only));
        if (streq(key, "Mode"))
                return parse_mode(file, line, value, t);
        if (streq(key, "TriesDone"))
                return handled(conf_value_uint64(file, line, key, value, &t->has_tries_done, &t->tries_done));
        if (streq(key, "TriesLeft"))
                return handled(conf_value_uint64(file, line, key, value, &t->has_tries_left, &t->tries_left));
        if (streq(key, "InstancesMax"))
                return parse_instances_max(p, file, line, value);
        if (streq(key, "RemoveTemporary"))
                return handled(conf_value_bool(file, line, key, value, &t->remove_temporary));
        if (streq(key, "CurrentSymlink")) {
                int r = set_expanded(p, file, line, key, value, &t->current_symlink);
                if (r == 0) {
                        p->current_symlink = (struct where) { file, line };
                        path_simplify_inplace(t->current_symlink);
                }
                return r < 0 ? r : 0;
        }
        return 1;
}

static int transfer_assign(const char *file, unsigned line, const char *section, const char *key,
                           const char *value, void *userdata) {
        struct parser *p = userdata;
        int r;
        if (streq(section, "Transfer"))
                r = assign_transfer(p, file, line, key, value);
        else if (streq(section, "Source"))
                r = assign_source(p, file, line, key, value);
        else if (streq(section, "Target"))
                r = assign_target(p, file, line, key, value);
        else {
                if (!startswith(section, "X-"))
                        log_warning("%s:%u: unknown section [%s], ignoring %s=", file, line, section, key);
                return 0;
        }
        if (r > 0 && !startswith(key, "X-"))
                log_warning("%s:%u: unknown key %s= in [%s], ignoring", file, line, key, section);
        return r < 0 ? r : 0;
}

static bool types_compatible(enum resource_type source, enum resource_type target) {
        switch (source) {
        case RESOURCE_URL_FILE:
        case RESOURCE_REGULAR_FILE:
                return target == RESOURCE_REGULAR_FILE || target == RESOURCE_PARTITION;
        case RESOURCE_URL_TAR:
        case RESOURCE_TAR:
        case RESOURCE_DIRECTORY:
        case RESOURCE_SUBVOLUME:
                return target == RESOURCE_DIRECTORY || target == RESOURCE_SUBVOLUME;
        default:
                return false;
        }
}

static bool relto_is_boot(enum path_relative_to r) {
        return r == PATH_RELATIVE_TO_ESP || r == PATH_RELATIVE_TO_XBOOTLDR || r == PATH_RELATIVE_TO_BOOT;
}

static bool is_url(const char *s) {
        const char *rest = startswith(s, "file://");
        return conf_is_http_url(s) || (rest && path_is_absolute(rest));
}

static int validate_source(struct parser *p) {
        struct transfer *t = p->t;
        struct resource_config *s = &t->source;
        if (s->type < 0)
                return fail_at(t->file, 0, "[Source] Type= is missing");
        if (!s->path)
                return fail_at(t->file, 0, "[Source] Path= is missing");
        if (resource_type_is_url(s->type)) {
                if (!is_url(s->path))
                        return fail_where(&p->source_path, t->file, "[Source] Path=%s: not an http://, https:// or file:// URL",
                                          s->path);
                if (s->path_relative_to != PATH_RELATIVE_TO_ROOT)
                        return fail_where(&p->source_relto, t->file, "[Source] PathRelativeTo= cannot be used with a %s source",
                                          resource_type_to_string(s->type));
        } else {
                bool relative_ok = s->path_relative_to == PATH_RELATIVE_TO_EXPLICIT;
                if (!path_is_normalized(s->path) || (!relative_ok && !path_is_absolute(s->path)))
                        return fail_where(&p->source_path, t->file, "[Source] Path=%s: not an absolute, normalized path",
                                          s->path);
        }
        if (s->path_relative_to == PATH_RELATIVE_TO_EXPLICIT && !(p->o && p->o->have_transfer_source))
                return fail_where(&p->source_relto, t->file,
                                  "[Source] PathRelativeTo=explicit requires --transfer-source=");
        if (relto_is_boot(s->path_relative_to) && s->type != RESOURCE_REGULAR_FILE && s->type != RESOURCE_DIRECTORY)
                return fail_where(&p->source_relto, t->file, "[Source] PathRelativeTo=%s is only allowed for regular-file and directory",
                                  path_relative_to_to_string(s->path_relative_to));
        if (s->n_patterns == 0)
                return fail_at(t->file, 0, "[Source] MatchPattern= is missing");
        return 0;
}

static enum resource_type infer_target_type(const struct transfer *t) {
        switch (t->source.type) {
        case RESOURCE_URL_FILE:
        case RESOURCE_REGULAR_FILE:
                return t->target.path && startswith(t->target.path, "/dev/") ? RESOURCE_PARTITION
                                                                              : RESOURCE_REGULAR_FILE;
        case RESOURCE_SUBVOLUME:
                return RESOURCE_SUBVOLUME;
        default:
                return RESOURCE_DIRECTORY;
        }
}

static int inherit_patterns(struct transfer *t) {
        log_debug("%s: [Target] MatchPattern= not set, using the [Source] patterns", t->file);
        for (size_t i = 0; t->source.patterns_str && t->source.patterns_str[i]; i++) {
                const char *reason;
                int r = patterns_add(&t->target, t->source.patterns_str[i], &reason);
                if (r < 0)
                        return r == -ENOMEM ? r : fail_at(t->file, 0, "MatchPattern=%s: %s", t->source.patterns_str[i], reason);
        }
        return 0;
}

static int validate_target(struct parser *p) {
        struct transfer *t = p->t;
        struct resource_config *g = &t->target;
        int r;
        if (g->type < 0)
                g->type = infer_target_type(t);
        if (!types_compatible(t->source.type, g->type))
                return fail_where(p->target_type.file ? &p->target_type : &p->source_type, t->file,
                                  "a %s source cannot be installed into a %s target",
                                  resource_type_to_string(t->source.type), resource_type_to_string(g->type));
        if (!g->path)
                return fail_at(t->file, 0, "[Target] Path= is missing");
        if (g->path_auto) {
                if (g->type != RESOURCE_PARTITION)
                        return fail_where(&p->target_path, t->file, "[Target] Path=auto is only allowed for partition targets");
                if (p->o && p->o->root_mode && !p->o->image_mode)
                        return fail_where(&p->target_path, t->file, "[Target] Path=auto cannot be used with --root=");
        } else if (!path_is_absolute(g->path) || !path_is_normalized(g->path))
                return fail_where(&p->target_path, t->file, "[Target] Path=%s: not an absolute, normalized path", g->path);
        if (g->path_relative_to == PATH_RELATIVE_TO_EXPLICIT)
                return fail_where(&p->target_relto, t->file, "[Target] PathRelativeTo=explicit is only allowed for sources");
        if (relto_is_boot(g->path_relative_to) && g->type != RESOURCE_REGULAR_FILE && g->type != RESOURCE_DIRECTORY)
                return fail_where(&p->target_relto, t->file, "[Target] PathRelativeTo=%s is only allowed for regular-file and directory targets",
                                  path_relative_to_to_string(g->path_relative_to));
        if (t->current_symlink && g->type == RESOURCE_PARTITION && !path_is_absolute(t->current_symlink))
                return fail_where(&p->current_symlink, t->file, "CurrentSymlink=%s must be absolute for a partition target",
                                  t->current_symlink);
        if (g->n_patterns == 0) {
                r = inherit_patterns(t);
                if (r < 0)
                        return r;
        }
        if (g->type == RESOURCE_PARTITION)
                for (size_t i = 0; i < g->n_patterns; i++)
                        if (pattern_has_slash(g->patterns[i]))
                                return fail_where(&p->target_patterns, t->file,
                                                  "MatchPattern=%s: a partition label cannot contain '/'", g->patterns_str[i]);
        if (!p->partition_type_set)
                partition_type_from_string("linux-generic", t->partition_type);
        if (!p->instances_max_set)
                t->instances_max = g->type == RESOURCE_PARTITION ? UINT64_MAX : 3;
        return 0;
}

static int make_id(const char *path, char **ret) {
        const char *base = path_basename(path);
        const char *end = endswith(base, ".transfer");
        if (!end)
                end = endswith(base, ".conf");
        *ret = strndup(base, end ? (size_t) (end - base) : strlen(base));
        return *ret ? 0 : -ENOMEM;
}

int transfer_load(const char *path, const struct transfer_parse_options *o, struct transfer **ret) {
        struct transfer *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->verify = true;
        t->remove_temporary = true;
        t->no_auto = t->growfs = t->read_only = -1;
        t->source.type = t->target.type = _RESOURCE_TYPE_INVALID;
        t->source.path_relative_to = t->target.path_relative_to = PATH_RELATIVE_TO_ROOT;
        t->file = strdup(path);
        int r = t->file ? make_id(path, &t->id) : -ENOMEM;
        if (r < 0) {
                transfer_free(t);
                return r;
        }

        /* The recorded "where" positions point into t->file and the drop-in strings, which
         * are handed over to t->dropins and so outlive validation. */
        struct parser p = { .o = o, .t = t };
        r = conf_parse_file_with_dropins_list(o ? o->root : NULL, o ? o->search_dirs : NULL, t->file,
                                              transfer_assign, &p, &t->dropins);
        if (r >= 0)
                r = validate_source(&p);
        if (r >= 0)
                r = validate_target(&p);
        if (r < 0) {
                transfer_free(t);
                return r == -ENOMEM ? r : -EINVAL;
        }
        *ret = t;
        return 0;
}
