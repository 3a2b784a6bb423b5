/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "version.h"

#include <string.h>

#define VERSION_LENGTH_MAX 255

/* ASCII only: comparisons must not depend on the locale. */
static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_letter(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_version_char(char c) {
        return is_digit(c) || is_letter(c) || c == '~' || c == '-' || c == '^' || c == '.';
}

static int sign(int v) {
        return (v > 0) - (v < 0);
}

/* Spec 4.2 steps 2, 4, 5, 6: the side that has separator c (and the other does not) is older; when
 * both have it, both skip it. Returns the verdict, or 0 to go on. */
static int compare_separator(const char **a, const char **b, char c) {
        if (**a != c && **b != c)
                return 0;
        if (**a != c)
                return 1;
        if (**b != c)
                return -1;
        (*a)++;
        (*b)++;
        return 0;
}

static size_t span(const char *s, bool (*is)(char)) {
        size_t n = 0;
        while (is(s[n]))
                n++;
        return n;
}

/* Step 7, numeric: an empty digit run is older than any non-empty one (so "1.a" < "1.0"), then
 * leading zeros do not count, then more digits is newer, then plain digit order. */
static int compare_numeric(const char **a, const char **b) {
        size_t na = span(*a, is_digit), nb = span(*b, is_digit);
        if ((na > 0) != (nb > 0))
                return na > 0 ? 1 : -1;

        const char *da = *a, *db = *b;
        while (da < *a + na && *da == '0')
                da++;
        while (db < *b + nb && *db == '0')
                db++;
        size_t sa = (size_t) (*a + na - da), sb = (size_t) (*b + nb - db);
        if (sa != sb)
                return sa > sb ? 1 : -1;
        int r = sign(strncmp(da, db, sa));
        *a += na;
        *b += nb;
        return r;
}

/* Step 7, alphabetic: case-sensitive ASCII order on the common prefix, then the longer run is
 * newer. Both runs may be empty (e.g. at the end after a skipped separator): equal then. */
static int compare_alpha(const char **a, const char **b) {
        size_t na = span(*a, is_letter), nb = span(*b, is_letter);
        int r = sign(strncmp(*a, *b, na < nb ? na : nb));
        if (r != 0)
                return r;
        if (na != nb)
                return na > nb ? 1 : -1;
        *a += na;
        *b += nb;
        return 0;
}

int version_compare(const char *a, const char *b) {
        if (!a)
                a = "";
        if (!b)
                b = "";

        for (;;) {
                int r;

                while (*a && !is_version_char(*a))
                        a++;
                while (*b && !is_version_char(*b))
                        b++;

                /* '~' sorts before everything, even before the end of the string: 1.0~rc1 < 1.0 */
                r = compare_separator(&a, &b, '~');
                if (r != 0)
                        return r;

                if (!*a || !*b)
                        return *a ? 1 : *b ? -1 : 0;

                /* Steps 2-7 run one after the other within one round: after a shared '~' or '-'
                 * the next characters go straight to the following step, without skipping
                 * non-version characters first (systemd does the same: "~0z" > "~,0"). */
                r = compare_separator(&a, &b, '-');
                if (r != 0)
                        return r;
                r = compare_separator(&a, &b, '^');
                if (r != 0)
                        return r;
                r = compare_separator(&a, &b, '.');
                if (r != 0)
                        return r;

                if (is_digit(*a) || is_digit(*b))
                        r = compare_numeric(&a, &b);
                else
                        r = compare_alpha(&a, &b);
                if (r != 0)
                        return r;
        }
}

bool version_is_valid(const char *s) {
        if (!s || !*s)
                return false;
        size_t n = strlen(s);
        if (n > VERSION_LENGTH_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_digit(s[i]) && !is_letter(s[i]) && !strchr(".,_-+", s[i]))
                        return false;
        return true;
}
