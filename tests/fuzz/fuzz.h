/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the libFuzzer targets: invariant checks that abort (so libFuzzer records a crash with
 * the input), and splitting the input into C strings. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond, ...)                                                                     \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond); \
                        fprintf(stderr, __VA_ARGS__);                                              \
                        fputc('\n', stderr);                                                       \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

/* Cut the next piece of the input, up to the separator byte (or the end), as a new C string.
 * Advances the input past the separator. NULL on OOM. */
static inline char *fuzz_take(const uint8_t **data, size_t *size, uint8_t separator) {
        const uint8_t *end = memchr(*data, separator, *size);
        size_t n = end ? (size_t) (end - *data) : *size;
        char *s = malloc(n + 1);
        if (!s)
                return NULL;
        memcpy(s, *data, n);
        s[n] = 0;
        size_t used = end ? n + 1 : n;
        *data += used;
        *size -= used;
        return s;
}
