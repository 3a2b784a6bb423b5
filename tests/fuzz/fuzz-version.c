/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* version_compare() must be a total preorder: reflexive, antisymmetric, transitive; trailing
 * non-version characters are invisible; version_is_valid() agrees with its character set. */
#include "fuzz.h"

#include "base/util.h"
#include "sysupdate/version.h"

static int sign(int v) {
        return (v > 0) - (v < 0);
}

static void check_validity(const char *s) {
        /* systemd's rule: alphanumerics and ".,_-+" only, not "." or "..", at most 255 bytes */
        size_t n = strlen(s);
        bool chars_ok = n > 0 && n <= 255 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
        for (size_t i = 0; i < n && chars_ok; i++)
                chars_ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
                           (s[i] >= 'A' && s[i] <= 'Z') || strchr(".,_+-", s[i]);
        FUZZ_ASSERT(version_is_valid(s) == chars_ok, "\"%s\"", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *a = fuzz_take(&data, &size, 0);
        _cleanup_free_ char *b = fuzz_take(&data, &size, 0);
        _cleanup_free_ char *c = fuzz_take(&data, &size, 0);
        if (!a || !b || !c)
                return 0;

        const char *v[3] = { a, b, c };
        int cmp[3][3];
        for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                        cmp[i][j] = sign(version_compare(v[i], v[j]));

        for (int i = 0; i < 3; i++) {
                FUZZ_ASSERT(cmp[i][i] == 0, "\"%s\"", v[i]);
                for (int j = 0; j < 3; j++) {
                        FUZZ_ASSERT(cmp[i][j] == -cmp[j][i], "\"%s\" vs \"%s\": %d, %d", v[i], v[j],
                                    cmp[i][j], cmp[j][i]);
                        for (int k = 0; k < 3; k++)
                                if (cmp[i][j] <= 0 && cmp[j][k] <= 0)
                                        FUZZ_ASSERT(cmp[i][k] <= 0, "\"%s\" <= \"%s\" <= \"%s\"", v[i],
                                                    v[j], v[k]);
                }
        }

        /* '_' is not a version character: appending it changes nothing. Except after a final
         * '~': the shared tilde is stepped over and the end check comes next, without skipping
         * the '_' (systemd also says "1~" < "1~_"). */
        _cleanup_free_ char *a_ = strprintf("%s_", a);
        if (a_ && !endswith(a, "~"))
                FUZZ_ASSERT(version_compare(a, a_) == 0, "\"%s\"", a);
        FUZZ_ASSERT(sign(version_compare(NULL, a)) == sign(version_compare("", a)), "\"%s\"", a);

        for (int i = 0; i < 3; i++)
                check_validity(v[i]);
        return 0;
}
