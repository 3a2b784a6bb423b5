/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gpt.h"

#include "util.h"

#include <errno.h>
#include <zlib.h>

void gpt_guid_swap(uint8_t out[16], const uint8_t in[16]) {
        static const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
        for (unsigned i = 0; i < 16; i++)
                out[i] = in[order[i]];
}

uint32_t gpt_crc32(const uint8_t *p, size_t n) {
        uLong c = crc32(0L, Z_NULL, 0);
        while (n > 0) {
                uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt) n;
                c = crc32(c, p, chunk);
                p += chunk;
                n -= chunk;
        }
        return (uint32_t) c;
}

uint64_t gpt_entries_sectors(uint32_t n_entries, uint32_t sector_size) {
        return ((uint64_t) n_entries * GPT_ENTRY_SIZE + sector_size - 1) / sector_size;
}

bool gpt_entry_is_used(const struct gpt_entry *e) {
        return !uuid_is_null(e->type);
}

void gpt_table_done(struct gpt_table *t) {
        free(t->entries);
        *t = (struct gpt_table) {};
}

/* One header and its entry array, as found at one LBA. */
struct header {
        uint64_t my_lba, alternate_lba, first_usable, last_usable, entries_lba;
        uint32_t n_entries;
        uint8_t disk_guid[16];
        uint8_t *entries;              /* raw array, n_entries * 128 bytes */
};

/* -EMEDIUMTYPE without the signature, -EBADMSG when the header or its entries fail a check. */
static int header_read(int fd, uint32_t ss, uint64_t n_sectors, uint64_t lba, struct header *ret) {
        _cleanup_free_ uint8_t *h = malloc(ss);
        if (!h)
                return -ENOMEM;
        int r = pread_full(fd, h, ss, lba * ss);
        if (r < 0)
                return r;
        if (memcmp(h, "EFI PART", 8) != 0)
                return -EMEDIUMTYPE;
        uint32_t hsize = gpt_get32(h + 12), crc = gpt_get32(h + 16);
        if (hsize < GPT_HEADER_SIZE || hsize > ss)
                return -EBADMSG;
        gpt_put32(h + 16, 0);
        if (gpt_crc32(h, hsize) != crc)
                return -EBADMSG;

        struct header x = {
                .my_lba = gpt_get64(h + 24),
                .alternate_lba = gpt_get64(h + 32),
                .first_usable = gpt_get64(h + 40),
                .last_usable = gpt_get64(h + 48),
                .entries_lba = gpt_get64(h + 72),
                .n_entries = gpt_get32(h + 80),
        };
        gpt_guid_swap(x.disk_guid, h + 56);
        if (x.my_lba != lba || gpt_get32(h + 84) != GPT_ENTRY_SIZE || x.n_entries == 0 ||
            x.n_entries > GPT_ENTRIES_MAX)
                return -EBADMSG;
        /* The usable area holds neither the MBR, the headers nor an entry array. */
        uint64_t es = gpt_entries_sectors(x.n_entries, ss);
        if (x.first_usable < 2 || x.first_usable > x.last_usable || x.last_usable >= n_sectors - 1 ||
            x.entries_lba < 2 || es + 1 > n_sectors || x.entries_lba + es > n_sectors - 1)
                return -EBADMSG;
        bool before = x.entries_lba + es <= x.first_usable, after = x.entries_lba > x.last_usable;
        if (!before && !after)
                return -EBADMSG;
        if (lba >= x.first_usable && lba <= x.last_usable)
                return -EBADMSG;
        if (lba >= x.entries_lba && lba < x.entries_lba + es)
                return -EBADMSG;

        size_t bytes = (size_t) x.n_entries * GPT_ENTRY_SIZE;
        x.entries = malloc(bytes);
        if (!x.entries)
                return -ENOMEM;
        r = pread_full(fd, x.entries, bytes, x.entries_lba * ss);
        if (r >= 0 && gpt_crc32(x.entries, bytes) != gpt_get32(h + 88))
                r = -EBADMSG;
        if (r < 0) {
                free(x.entries);
                return r;
        }
        *ret = x;
        return 0;
}

static int cmp_first_lba(const void *a, const void *b) {
        const struct gpt_entry *x = *(const struct gpt_entry *const *) a, *y = *(const struct gpt_entry *const *) b;
        return x->first_lba < y->first_lba ? -1 : x->first_lba > y->first_lba;
}

int gpt_entries_check(const struct gpt_table *t, unsigned overlap[2]) {
        _cleanup_free_ const struct gpt_entry **used = calloc(t->n_entries, sizeof(*used));
        size_t n = 0;
        if (!used)
                return -ENOMEM;
        for (uint32_t i = 0; i < t->n_entries; i++) {
                const struct gpt_entry *e = &t->entries[i];
                if (!gpt_entry_is_used(e))
                        continue;
                if (e->first_lba > e->last_lba || e->first_lba < t->first_usable || e->last_lba > t->last_usable)
                        return -EBADMSG;
                used[n++] = e;
        }
        qsort(used, n, sizeof(*used), cmp_first_lba);
        for (size_t i = 1; i < n; i++)
                if (used[i]->first_lba <= used[i - 1]->last_lba) {
                        if (overlap) {
                                overlap[0] = (unsigned) (used[i - 1] - t->entries) + 1;
                                overlap[1] = (unsigned) (used[i] - t->entries) + 1;
                        }
                        return -EBADMSG;
                }
        return 0;
}

static int table_from(const struct header *h, uint32_t ss, uint64_t n_sectors, struct gpt_table *ret) {
        struct gpt_table t = {
                .sector_size = ss,
                .n_sectors = n_sectors,
                .first_usable = h->first_usable,
                .last_usable = h->last_usable,
                .entries_lba = h->entries_lba,
                .alternate_lba = h->alternate_lba,
                .n_entries = h->n_entries,
                .entries = calloc(h->n_entries, sizeof(struct gpt_entry)),
        };
        if (!t.entries)
                return -ENOMEM;
        memcpy(t.disk_guid, h->disk_guid, 16);
        for (uint32_t i = 0; i < t.n_entries; i++) {
                const uint8_t *p = h->entries + (size_t) i * GPT_ENTRY_SIZE;
                struct gpt_entry *x = &t.entries[i];
                gpt_guid_swap(x->type, p);
                gpt_guid_swap(x->uuid, p + 16);
                x->first_lba = gpt_get64(p + 32);
                x->last_lba = gpt_get64(p + 40);
                x->flags = gpt_get64(p + 48);
                for (unsigned k = 0; k < GPT_LABEL_MAX; k++)
                        x->name[k] = (uint16_t) (p[56 + 2 * k] | p[57 + 2 * k] << 8);
        }
        *ret = t;
        return 0;
}

int gpt_read_header(int fd, uint32_t sector_size, uint64_t n_sectors, uint64_t lba, struct gpt_table *ret) {
        struct header h = {};
        if (n_sectors < 6)
                return -EMEDIUMTYPE;
        int r = header_read(fd, sector_size, n_sectors, lba, &h);
        if (r >= 0)
                r = table_from(&h, sector_size, n_sectors, ret);
        free(h.entries);
        if (r >= 0) {
                ret->primary_valid = lba == 1;
                ret->backup_valid = lba != 1;
        }
        return r;
}

static bool same_table(const struct header *a, const struct header *b) {
        return a->first_usable == b->first_usable && a->last_usable == b->last_usable &&
               a->n_entries == b->n_entries && memcmp(a->disk_guid, b->disk_guid, 16) == 0 &&
               memcmp(a->entries, b->entries, (size_t) a->n_entries * GPT_ENTRY_SIZE) == 0;
}

/* table_from() and gpt_entries_check() */
static int table_checked(const struct header *h, uint32_t ss, uint64_t n_sectors, struct gpt_table *ret) {
        int r = table_from(h, ss, n_sectors, ret);
        if (r >= 0 && (r = gpt_entries_check(ret, NULL)) < 0)
                gpt_table_done(ret);
        return r;
}

static int read_with(int fd, uint32_t ss, uint64_t size, struct gpt_table *ret) {
        uint64_t n_sectors = size / ss;
        struct header p = {}, b = {};
        int r, q;

        if (n_sectors < 6)
                return -EMEDIUMTYPE;
        r = header_read(fd, ss, n_sectors, 1, &p);
        if (r == 0) {
                /* The backup sits where the primary says; on a disk that has grown that is not
                 * the last LBA. */
                q = p.alternate_lba > 1 && p.alternate_lba < n_sectors ?
                            header_read(fd, ss, n_sectors, p.alternate_lba, &b) : -EBADMSG;
                r = table_checked(&p, ss, n_sectors, ret);
                if (r == 0) {
                        ret->primary_valid = true;
                        ret->backup_valid = q == 0 && b.alternate_lba == 1 && same_table(&p, &b);
                }
        } else if (r == -EMEDIUMTYPE || r == -EBADMSG) {
                q = header_read(fd, ss, n_sectors, n_sectors - 1, &b);
                if (q == 0) {
                        r = table_checked(&b, ss, n_sectors, ret);
                        if (r == 0) {
                                ret->backup_valid = true;
                                ret->alternate_lba = n_sectors - 1;
                                ret->entries_lba = 2;
                        }
                } else if (q != -EMEDIUMTYPE)
                        r = q == -EBADMSG || r == -EBADMSG ? -EBADMSG : q;
        }
        free(p.entries);
        free(b.entries);
        return r;
}

int gpt_read(int fd, uint32_t sector_size, uint64_t size, struct gpt_table *ret) {
        static const uint32_t probe[] = { 512, 4096 };
        if (sector_size != 0)
                return read_with(fd, sector_size, size, ret);
        int r = -EMEDIUMTYPE;
        for (size_t i = 0; i < ELEMENTSOF(probe) && r == -EMEDIUMTYPE; i++)
                r = read_with(fd, probe[i], size, ret);
        return r;
}

int gpt_label_encode(const char *s, uint16_t ret[GPT_LABEL_MAX]) {
        size_t n = 0, left = strlen(s);

        memset(ret, 0, sizeof(uint16_t) * GPT_LABEL_MAX);
        for (const char *p = s; *p;) {
                uint32_t c;
                size_t len = utf8_decode(p, left, &c);
                if (len == 0 || c < 0x20 || c == 0x7F)
                        return -EINVAL;
                if (c >= 0x10000) {
                        if (n + 2 > GPT_LABEL_MAX)
                                return -EINVAL;
                        c -= 0x10000;
                        ret[n++] = (uint16_t) (0xD800 | (c >> 10));
                        ret[n++] = (uint16_t) (0xDC00 | (c & 0x3FF));
                } else {
                        if (n + 1 > GPT_LABEL_MAX)
                                return -EINVAL;
                        ret[n++] = (uint16_t) c;
                }
                p += len;
                left -= len;
        }
        return 0;
}

char *gpt_label_decode(const uint16_t name[GPT_LABEL_MAX]) {
        char *s = malloc(GPT_LABEL_MAX * 4 + 1), *o = s;
        if (!s)
                return NULL;
        for (size_t i = 0; i < GPT_LABEL_MAX && name[i]; i++) {
                uint32_t c = name[i];
                if (c >= 0xD800 && c <= 0xDBFF && i + 1 < GPT_LABEL_MAX && name[i + 1] >= 0xDC00 &&
                    name[i + 1] <= 0xDFFF) {
                        c = 0x10000 + ((c - 0xD800) << 10) + (name[i + 1] - 0xDC00);
                        i++;
                } else if (c >= 0xD800 && c <= 0xDFFF)
                        c = 0xFFFD;
                if (c < 0x80)
                        *o++ = (char) c;
                else if (c < 0x800) {
                        *o++ = (char) (0xC0 | c >> 6);
                        *o++ = (char) (0x80 | (c & 0x3F));
                } else if (c < 0x10000) {
                        *o++ = (char) (0xE0 | c >> 12);
                        *o++ = (char) (0x80 | ((c >> 6) & 0x3F));
                        *o++ = (char) (0x80 | (c & 0x3F));
                } else {
                        *o++ = (char) (0xF0 | c >> 18);
                        *o++ = (char) (0x80 | ((c >> 12) & 0x3F));
                        *o++ = (char) (0x80 | ((c >> 6) & 0x3F));
                        *o++ = (char) (0x80 | (c & 0x3F));
                }
        }
        *o = 0;
        return s;
}
