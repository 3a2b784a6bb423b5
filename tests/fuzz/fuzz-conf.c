/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conf_parse_file() on arbitrary bytes (through a memfd). Invariants on every assignment handed to
 * the callback: inside a named section, a non-empty key without '=', no line breaks, no
 * surrounding blanks, line numbers within the file and never going backwards. Every value is also
 * run through the typed conf_value_*() readers and %-specifier expansion: they either take it or
 * ignore it (1), and a value without '%' expands to itself. */
#include "fuzz.h"

#include "base/conf.h"
#include "base/log.h"
#include "base/specifier.h"
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <sys/mman.h>

struct seen {
        const struct specifier_context *specifiers;
        const char *path;
        unsigned max_line;
        unsigned last_line;
        size_t n;
};

static bool blank_edges(const char *s) {
        size_t n = strlen(s);
        return n > 0 && (isspace((unsigned char) s[0]) || isspace((unsigned char) s[n - 1]));
}

static int on_assignment(const char *file, unsigned line, const char *section, const char *key,
                         const char *value, void *userdata) {
        struct seen *seen = userdata;
        FUZZ_ASSERT(streq(file, seen->path), "%s", file);
        FUZZ_ASSERT(line >= 1 && line <= seen->max_line, "line %u of %u", line, seen->max_line);
        FUZZ_ASSERT(line >= seen->last_line, "line %u after %u", line, seen->last_line);
        FUZZ_ASSERT(section && *section && !strchr(section, '\n'), "line %u", line);
        FUZZ_ASSERT(key && *key && !strchr(key, '=') && !strchr(key, '\n') && !blank_edges(key),
                    "line %u: key \"%s\"", line, key);
        FUZZ_ASSERT(value && !strchr(value, '\n') && !blank_edges(value), "line %u: value \"%s\"", line,
                    value);
        seen->last_line = line;
        seen->n++;

        bool b = false;
        int tristate = -1, r;
        bool has = true; /* an empty value must reset it */
        uint64_t u = 0;
        r = conf_value_bool(file, line, key, value, &b);
        FUZZ_ASSERT(r == 0 || r == 1 || r == -ENOMEM, "bool %d", r);
        r = conf_value_tristate(file, line, key, value, &tristate);
        FUZZ_ASSERT((r == 0 && tristate >= -1 && tristate <= 1) || r == 1 || r == -ENOMEM, "tristate %d", r);
        r = conf_value_uint64(file, line, key, value, &has, &u);
        FUZZ_ASSERT(r == 0 || r == 1 || r == -ENOMEM, "uint64 %d", r);
        if (r == 0 && *value == 0)
                FUZZ_ASSERT(!has, "empty value must unset");

        _cleanup_free_ char *expanded = NULL;
        r = conf_value_expand(seen->specifiers, file, line, key, value, &expanded);
        if (r == 0) {
                FUZZ_ASSERT(expanded, "line %u", line);
                if (!strchr(value, '%'))
                        FUZZ_ASSERT(streq(expanded, value), "\"%s\" -> \"%s\"", value, expanded);
        }
        return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
static struct specifier_context *specifiers;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        log_set_max_level((enum log_level) 0);
        /* The host's os-release, machine-id and boot id: read once, like abota does per run. */
        return specifier_context_new("/", &specifiers) < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int fd = memfd_create("fuzz-conf", MFD_CLOEXEC);
        if (fd < 0)
                return 0;
        if (size > 0 && write(fd, data, size) != (ssize_t) size)
                return 0;
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

        struct seen seen = { .specifiers = specifiers, .path = path, .max_line = 1 };
        for (size_t i = 0; i < size; i++)
                seen.max_line += data[i] == '\n';

        int r = conf_parse_file(path, on_assignment, &seen);
        FUZZ_ASSERT(r == 0 || r == -EBADMSG || r == -E2BIG || r == -ENOMEM || r == -EFBIG, "%d", r);
        if (r == 0 && memchr(data, '=', size) == NULL)
                FUZZ_ASSERT(seen.n == 0, "%zu assignments without any '='", seen.n);
        return 0;
}
