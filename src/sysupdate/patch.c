/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "patch.h"

#include "base/util.h"
#include "version.h"

#include <errno.h>
#include <string.h>

char *patch_name(const char *base_version, const char *target_name) {
        if (!version_is_valid(base_version) || strchr(base_version, '@'))
                return NULL;
        return strprintf(PATCH_NAME_PREFIX "%s@%s", base_version, target_name);
}

bool patch_name_is(const char *name) {
        return startswith(name, PATCH_NAME_PREFIX);
}

int patch_name_parse(const char *name, char **ret_base_version, const char **ret_target) {
        const char *p = startswith(name, PATCH_NAME_PREFIX);
        const char *at = p ? strchr(p, '@') : NULL;
        if (!at || at == p || !at[1])
                return -EINVAL;
        char *v = strndup(p, (size_t) (at - p));
        if (!v)
                return -ENOMEM;
        if (!version_is_valid(v)) {
                free(v);
                return -EINVAL;
        }
        *ret_base_version = v;
        *ret_target = at + 1;
        return 0;
}

static void put_le64(uint8_t *p, uint64_t v) {
        for (unsigned i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p) {
        uint64_t v = 0;
        for (unsigned i = 0; i < 8; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

void patch_header_format(const struct patch_header *h, uint8_t ret[PATCH_HEADER_SIZE]) {
        memcpy(ret, PATCH_MAGIC, 8);
        put_le64(ret + 8, h->base_size);
        put_le64(ret + 16, h->target_size);
        memcpy(ret + 24, h->base_sha256, 32);
        memcpy(ret + 56, h->target_sha256, 32);
}

int patch_header_parse(const uint8_t data[PATCH_HEADER_SIZE], struct patch_header *ret) {
        if (memcmp(data, PATCH_MAGIC, 8) != 0)
                return -EBADMSG;
        ret->base_size = get_le64(data + 8);
        ret->target_size = get_le64(data + 16);
        memcpy(ret->base_sha256, data + 24, 32);
        memcpy(ret->target_sha256, data + 56, 32);
        return 0;
}

unsigned patch_window_log(uint64_t base_size, uint64_t target_size) {
        uint64_t need = base_size + target_size;
        unsigned log = 10; /* ZSTD_WINDOWLOG_MIN */
        while (log < PATCH_WINDOW_LOG_MAX && (1ULL << log) < need)
                log++;
        return log;
}
