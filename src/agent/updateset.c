/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "updateset.h"

#include "resource.h"
#include "sysupdate/transfer.h"
#include "base/util.h"
#include "sysupdate/version.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void update_set_free(struct update_set *s) {
        if (!s)
                return;
        free(s->version);
        free(s->installed);
        free(s->available);
        free(s);
}

void update_sets_free(struct update_sets *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_sets; i++)
                update_set_free(s->sets[i]);
        free(s->sets);
        free(s);
}

static struct update_set *find_equal(const struct update_sets *s, const char *v) {
        for (size_t i = 0; i < s->n_sets; i++)
                if (version_compare(s->sets[i]->version, v) == 0)
                        return s->sets[i];
        return NULL;
}

struct update_set *update_sets_find(const struct update_sets *s, const char *version) {
        for (size_t i = 0; i < s->n_sets; i++)
                if (streq(s->sets[i]->version, version))
                        return s->sets[i];
        return find_equal(s, version);
}

static int add_set(struct update_sets *s, const char *version, struct update_set **ret) {
        struct update_set **l = realloc(s->sets, (s->n_sets + 1) * sizeof(*l));
        if (!l)
                return -ENOMEM;
        s->sets = l;
        struct update_set *u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;
        u->version = strdup(version);
        u->installed = calloc(s->n_transfers ? s->n_transfers : 1, sizeof(*u->installed));
        u->available = calloc(s->n_transfers ? s->n_transfers : 1, sizeof(*u->available));
        if (!u->version || !u->installed || !u->available) {
                update_set_free(u);
                return -ENOMEM;
        }
        s->sets[s->n_sets++] = u;
        *ret = u;
        return 0;
}

/* The newest instance of one resource strictly older than boundary (NULL = no bound). The
 * instances are sorted newest first and discover() lowers the boundary on every step, so *pos
 * only ever moves forward: one pass over the list in all, not one per version. */
static const char *newest_below(const struct resource *r, const char *boundary, size_t *pos) {
        while (boundary && *pos < r->n_instances &&
               version_compare(r->instances[*pos]->metadata.version, boundary) >= 0)
                (*pos)++;
        return *pos < r->n_instances ? r->instances[*pos]->metadata.version : NULL;
}

/* The set of version v among the first n sets, which are sorted newest first; *pos moves
 * forward as v falls, like newest_below(). */
static struct update_set *find_equal_sorted(const struct update_sets *s, size_t n, const char *v, size_t *pos) {
        while (*pos < n && version_compare(s->sets[*pos]->version, v) > 0)
                (*pos)++;
        return *pos < n && version_compare(s->sets[*pos]->version, v) == 0 ? s->sets[*pos] : NULL;
}

/* Versions outside [MinVersion=, MaxVersion=] are obsolete; ProtectVersion= of any transfer
 * protects (newer upstream semantics: protection is per component). */
static unsigned version_flags(struct transfer *const *transfers, size_t n, const char *v) {
        unsigned f = 0;
        for (size_t k = 0; k < n; k++) {
                const struct transfer *t = transfers[k];
                if ((t->min_version && version_compare(v, t->min_version) < 0) ||
                    (t->max_version && version_compare(v, t->max_version) > 0))
                        f |= UPDATE_OBSOLETE;
                for (char **p = t->protect_versions; p && *p; p++)
                        if (version_compare(*p, v) == 0)
                                f |= UPDATE_PROTECTED;
        }
        return f;
}

/* One discovery pass (spec 6.1, v257): the cursor walks down from the newest version any
 * transfer has; each version becomes a set unless (for sources) some transfer lacks it. The
 * sets found by an earlier pass are sorted newest first (the cursor only falls), so the pass is
 * linear in the number of instances. */
static int discover(struct update_sets *s, struct transfer *const *transfers, struct resource *const *res,
                    size_t n, bool installed) {
        const char *boundary = NULL;
        bool first = true;
        size_t pos[n ? n : 1], earlier = s->n_sets, at = 0;
        memset(pos, 0, sizeof(pos));

        for (;;) {
                const char *cursor = NULL;
                bool some_missing = false;
                for (size_t k = 0; k < n; k++) {
                        const char *v = newest_below(res[k], boundary, &pos[k]);
                        if (!v)
                                some_missing = true;
                        else if (!cursor || version_compare(v, cursor) > 0)
                                cursor = v;
                }
                /* Sources: when a transfer has nothing older left, every older version is
                 * incomplete at the server and never offered. */
                if (!cursor || (!installed && some_missing))
                        break;
                boundary = cursor;

                const struct instance *picked[n ? n : 1];
                bool complete = true;
                for (size_t k = 0; k < n; k++) {
                        picked[k] = resource_find(res[k], cursor);
                        complete = complete && picked[k];
                }
                if (!installed && !complete)
                        continue;

                unsigned f = version_flags(transfers, n, cursor) |
                             (installed ? UPDATE_INSTALLED : UPDATE_AVAILABLE) |
                             (complete ? 0 : UPDATE_INCOMPLETE);
                struct update_set *u = find_equal_sorted(s, earlier, cursor, &at);
                bool is_new = !u;
                if (is_new) {
                        int r = add_set(s, cursor, &u);
                        if (r < 0)
                                return r;
                        if (first)
                                f |= UPDATE_NEWEST;
                }
                u->flags |= f;
                for (size_t k = 0; k < n; k++)
                        (installed ? u->installed : u->available)[k] = picked[k];

                if (installed && first)
                        s->newest_installed = u;
                if (!installed && !s->candidate) {
                        if (is_new && first && !(u->flags & UPDATE_OBSOLETE))
                                s->candidate = u;
                        /* repair: the newest installed version lacks a transfer the server has */
                        else if (u == s->newest_installed && (u->flags & UPDATE_INCOMPLETE) &&
                                 !(u->flags & UPDATE_OBSOLETE))
                                s->candidate = u;
                }
                /* A version above MaxVersion= does not stop the next one from being the newest. */
                if (installed || !(f & UPDATE_OBSOLETE))
                        first = false;
        }
        return 0;
}

static int set_cmp(const void *a, const void *b) {
        const struct update_set *x = *(struct update_set *const *) a, *y = *(struct update_set *const *) b;
        return version_compare(y->version, x->version);
}

int update_sets_discover(struct transfer *const *transfers, struct resource *const *targets,
                         struct resource *const *sources, size_t n, struct update_sets **ret) {
        struct update_sets *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->n_transfers = n;

        int r = discover(s, transfers, targets, n, true);
        if (r >= 0 && sources)
                r = discover(s, transfers, sources, n, false);
        if (r < 0) {
                update_sets_free(s);
                return r;
        }

        /* Never offer a downgrade on our own; a repair of an incomplete install is not one. */
        struct update_set *ni = s->newest_installed, *c = s->candidate;
        if (c && ni && c != ni && !(ni->flags & UPDATE_INCOMPLETE) && version_compare(ni->version, c->version) >= 0) {
                c->flags &= ~UPDATE_NEWEST;
                s->candidate = NULL;
        }
        if (s->n_sets > 1)
                qsort(s->sets, s->n_sets, sizeof(*s->sets), set_cmp);
        *ret = s;
        return 0;
}

const struct update_set *update_sets_newest_complete(const struct update_sets *s) {
        for (size_t i = 0; i < s->n_sets; i++)
                if ((s->sets[i]->flags & UPDATE_INSTALLED) && !(s->sets[i]->flags & UPDATE_INCOMPLETE))
                        return s->sets[i];
        return NULL;
}

const char *update_set_assessment(unsigned f) {
        bool obs = f & UPDATE_OBSOLETE, inc = f & UPDATE_INCOMPLETE;

        if (f & UPDATE_INSTALLED) {
                if (f & UPDATE_NEWEST)
                        return obs ? (inc ? "current+obsolete+incomplete" : "current+obsolete")
                                   : (inc ? "current+incomplete" : "current");
                if (f & UPDATE_PROTECTED)
                        return obs ? (inc ? "protected+obsolete+incomplete" : "protected+obsolete")
                                   : (inc ? "protected+incomplete" : "protected");
                return obs ? (inc ? "installed+obsolete+incomplete" : "installed+obsolete")
                           : (inc ? "installed+incomplete" : "installed");
        }
        if (f & UPDATE_AVAILABLE) {
                if (obs)
                        return "available+obsolete";
                return (f & UPDATE_NEWEST) ? "candidate" : "available";
        }
        return "n/a";
}
