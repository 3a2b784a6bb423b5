/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-gpt.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <unistd.h>
#include <zlib.h>

#define GPT_HEADER_SIZE 92u
#define GPT_ENTRY_SIZE 128u
#define GPT_DEFAULT_ENTRIES 128u

static void put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
        for (unsigned i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}
static uint16_t get16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}
static uint32_t get32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}
static uint64_t get64(const uint8_t *p) {
        return (uint64_t) get32(p) | (uint64_t) get32(p + 4) << 32;
}

/* On disk the first three GUID fields are little-endian; in memory we keep textual order. The
 * conversion is its own inverse. */
static void guid_swap(uint8_t out[16], const uint8_t in[16]) {
        static const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
        for (unsigned i = 0; i < 16; i++)
                out[i] = in[order[i]];
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
        uLong c = crc32(0L, Z_NULL, 0);
        while (n > 0) {
                uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt) n;
                c = crc32(c, p, chunk);
                p += chunk;
                n -= chunk;
        }
        return (uint32_t) c;
}

static uint64_t entries_sectors(uint32_t n_entries, uint32_t sector_size) {
        return ((uint64_t) n_entries * GPT_ENTRY_SIZE + sector_size - 1) / sector_size;
}

int repart_gpt_new(uint32_t sector_size, uint64_t n_sectors, const uint8_t disk_guid[16],
                   struct repart_gpt *ret) {
        uint64_t es = entries_sectors(GPT_DEFAULT_ENTRIES, sector_size);
        /* libfdisk aligns the first usable LBA to 1 MiB on a fresh disk. */
        uint64_t first = (1024 * 1024) / sector_size;
        if (first < 2 + es)
                first = 2 + es;
        if (n_sectors < first + es + 2)
                return -ENOSPC;
        *ret = (struct repart_gpt) {
                .sector_size = sector_size,
                .n_sectors = n_sectors,
                .first_usable = first,
                .last_usable = n_sectors - 2 - es,
                .entries_lba = 2,
                .n_entries = GPT_DEFAULT_ENTRIES,
                .entries = calloc(GPT_DEFAULT_ENTRIES, sizeof(struct repart_gpt_entry)),
        };
        if (!ret->entries)
                return -ENOMEM;
        memcpy(ret->disk_guid, disk_guid, 16);
        return 0;
}

void repart_gpt_done(struct repart_gpt *g) {
        free(g->entries);
        *g = (struct repart_gpt) {};
}

int repart_gpt_free_slot(const struct repart_gpt *g) {
        static const uint8_t zero[16];
        for (uint32_t i = 0; i < g->n_entries; i++)
                if (memcmp(g->entries[i].type, zero, 16) == 0)
                        return (int) i;
        return -ENOSPC;
}

static int pread_full(int fd, void *buf, size_t n, uint64_t off) {
        uint8_t *p = buf;
        while (n > 0) {
                ssize_t k = pread(fd, p, n, (off_t) off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                p += k;
                n -= (size_t) k;
                off += (uint64_t) k;
        }
        return 0;
}

static int pwrite_full(int fd, const void *buf, size_t n, uint64_t off) {
        const uint8_t *p = buf;
        while (n > 0) {
                ssize_t k = pwrite(fd, p, n, (off_t) off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
                off += (uint64_t) k;
        }
        return 0;
}

int repart_gpt_read_header(int fd, uint32_t ss, uint64_t n_sectors, uint64_t lba, struct repart_gpt *g) {
        _cleanup_free_ uint8_t *h = malloc(ss);
        if (!h)
                return -ENOMEM;
        int r = pread_full(fd, h, ss, lba * ss);
        if (r < 0)
                return r;
        if (memcmp(h, "EFI PART", 8) != 0)
                return -EMEDIUMTYPE;
        uint32_t hsize = get32(h + 12);
        if (hsize < GPT_HEADER_SIZE || hsize > ss)
                return -EBADMSG;
        uint32_t crc = get32(h + 16);
        put32(h + 16, 0);
        if (crc32_of(h, hsize) != crc || get64(h + 24) != lba)
                return -EBADMSG;
        uint64_t first = get64(h + 40), last = get64(h + 48), elba = get64(h + 72);
        uint32_t n = get32(h + 80), esize = get32(h + 84), ecrc = get32(h + 88);
        if (esize != GPT_ENTRY_SIZE || n == 0 || n > 4096 || first > last || last >= n_sectors ||
            elba >= n_sectors)
                return -EBADMSG;
        size_t bytes = (size_t) n * esize;
        _cleanup_free_ uint8_t *e = malloc(bytes);
        if (!e)
                return -ENOMEM;
        r = pread_full(fd, e, bytes, elba * ss);
        if (r < 0)
                return r;
        if (crc32_of(e, bytes) != ecrc)
                return -EBADMSG;

        *g = (struct repart_gpt) {
                .sector_size = ss,
                .n_sectors = n_sectors,
                .first_usable = first,
                .last_usable = last,
                .entries_lba = 2,
                .n_entries = n,
                .entries = calloc(n, sizeof(struct repart_gpt_entry)),
        };
        if (!g->entries)
                return -ENOMEM;
        guid_swap(g->disk_guid, h + 56);
        for (uint32_t i = 0; i < n; i++) {
                const uint8_t *p = e + (size_t) i * esize;
                struct repart_gpt_entry *x = &g->entries[i];
                guid_swap(x->type, p);
                guid_swap(x->uuid, p + 16);
                x->first_lba = get64(p + 32);
                x->last_lba = get64(p + 40);
                x->flags = get64(p + 48);
                for (unsigned k = 0; k < REPART_GPT_LABEL_MAX; k++)
                        x->name[k] = get16(p + 56 + 2 * k);
        }
        return 0;
}

int repart_gpt_read(int fd, const char *path, uint32_t sector_size, uint64_t n_sectors,
                    struct repart_gpt *ret) {
        struct repart_gpt g;
        int r = repart_gpt_read_header(fd, sector_size, n_sectors, 1, &g);
        if (r == -EMEDIUMTYPE || r == -EBADMSG) {
                int q = repart_gpt_read_header(fd, sector_size, n_sectors, n_sectors - 1, &g);
                if (q == 0)
                        log_warning("%s: primary GPT is damaged, using the backup", path);
                else if (r == -EMEDIUMTYPE && q == -EMEDIUMTYPE)
                        return -EMEDIUMTYPE;
                r = q;
        }
        if (r == -EBADMSG || r == -EMEDIUMTYPE)
                return log_error_errno(EBADMSG, "%s: the GPT is corrupt", path);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read the GPT: %s", path, strerror(-r));

        /* The disk may have grown (an image copied onto a larger disk): the backup table moves to
         * the new end and the space in between becomes usable. */
        uint64_t es = entries_sectors(g.n_entries, sector_size);
        if (g.last_usable < n_sectors - 2 - es)
                g.last_usable = n_sectors - 2 - es;
        if (g.first_usable < 2 + es || g.last_usable > n_sectors - 2 - es) {
                repart_gpt_done(&g);
                return log_error_errno(EBADMSG, "%s: GPT usable area does not fit the disk", path);
        }
        for (uint32_t i = 0; i < g.n_entries; i++) {
                const struct repart_gpt_entry *x = &g.entries[i];
                static const uint8_t zero[16];
                if (memcmp(x->type, zero, 16) == 0)
                        continue;
                if (x->first_lba > x->last_lba || x->first_lba < g.first_usable || x->last_lba > g.last_usable) {
                        repart_gpt_done(&g);
                        return log_error_errno(EBADMSG, "%s: partition %u lies outside the usable area",
                                               path, i + 1);
                }
        }
        *ret = g;
        return 0;
}

static void header_fill(uint8_t *h, const struct repart_gpt *g, uint64_t my, uint64_t alt, uint64_t elba,
                        uint32_t ecrc) {
        memcpy(h, "EFI PART", 8);
        put32(h + 8, 0x00010000);
        put32(h + 12, GPT_HEADER_SIZE);
        put64(h + 24, my);
        put64(h + 32, alt);
        put64(h + 40, g->first_usable);
        put64(h + 48, g->last_usable);
        guid_swap(h + 56, g->disk_guid);
        put64(h + 72, elba);
        put32(h + 80, g->n_entries);
        put32(h + 84, GPT_ENTRY_SIZE);
        put32(h + 88, ecrc);
        put32(h + 16, crc32_of(h, GPT_HEADER_SIZE));
}

int repart_gpt_write(int fd, const char *path, const struct repart_gpt *g) {
        uint32_t ss = g->sector_size;
        uint64_t es = entries_sectors(g->n_entries, ss);
        size_t ebytes = (size_t) (es * ss);
        _cleanup_free_ uint8_t *e = calloc(1, ebytes);
        _cleanup_free_ uint8_t *h = calloc(1, ss);
        _cleanup_free_ uint8_t *mbr = calloc(1, ss);
        int r;

        if (!e || !h || !mbr)
                return -ENOMEM;
        for (uint32_t i = 0; i < g->n_entries; i++) {
                uint8_t *p = e + (size_t) i * GPT_ENTRY_SIZE;
                const struct repart_gpt_entry *x = &g->entries[i];
                static const uint8_t zero[16];
                if (memcmp(x->type, zero, 16) == 0)
                        continue;
                guid_swap(p, x->type);
                guid_swap(p + 16, x->uuid);
                put64(p + 32, x->first_lba);
                put64(p + 40, x->last_lba);
                put64(p + 48, x->flags);
                for (unsigned k = 0; k < REPART_GPT_LABEL_MAX; k++)
                        put16(p + 56 + 2 * k, x->name[k]);
        }
        uint32_t ecrc = crc32_of(e, (size_t) g->n_entries * GPT_ENTRY_SIZE);

        /* Protective MBR: keep boot code and disk signature if there are any, replace the four
         * partition entries with the one 0xEE entry covering the disk. */
        r = pread_full(fd, mbr, 512, 0);
        if (r < 0)
                memset(mbr, 0, ss);
        memset(mbr + 446, 0, 64);
        mbr[446 + 1] = 0x00;
        mbr[446 + 2] = 0x02;
        mbr[446 + 3] = 0x00;
        mbr[446 + 4] = 0xEE;
        mbr[446 + 5] = mbr[446 + 6] = mbr[446 + 7] = 0xFF;
        put32(mbr + 446 + 8, 1);
        put32(mbr + 446 + 12, g->n_sectors - 1 > UINT32_MAX ? UINT32_MAX : (uint32_t) (g->n_sectors - 1));
        mbr[510] = 0x55;
        mbr[511] = 0xAA;

        uint64_t last = g->n_sectors - 1, backup_elba = last - es;
        /* Backup first: if we are interrupted, the primary still describes the old table. */
        r = pwrite_full(fd, e, ebytes, backup_elba * ss);
        if (r >= 0) {
                header_fill(h, g, last, 1, backup_elba, ecrc);
                r = pwrite_full(fd, h, ss, last * ss);
        }
        if (r >= 0)
                r = pwrite_full(fd, e, ebytes, g->entries_lba * ss);
        if (r >= 0) {
                memset(h, 0, ss);
                header_fill(h, g, 1, last, g->entries_lba, ecrc);
                r = pwrite_full(fd, h, ss, 1 * (uint64_t) ss);
        }
        if (r >= 0 && !g->keep_mbr)
                r = pwrite_full(fd, mbr, ss, 0);
        if (r < 0)
                return log_error_errno(r, "%s: cannot write the GPT: %s", path, strerror(-r));
        return 0;
}

int repart_gpt_label_encode(const char *s, uint16_t ret[REPART_GPT_LABEL_MAX]) {
        size_t n = 0, left = strlen(s);

        memset(ret, 0, sizeof(uint16_t) * REPART_GPT_LABEL_MAX);
        for (const char *p = s; *p;) {
                uint32_t c;
                size_t len = utf8_decode(p, left, &c);
                if (len == 0 || c < 0x20 || c == 0x7F)
                        return -EINVAL;
                if (c >= 0x10000) {
                        if (n + 2 > REPART_GPT_LABEL_MAX)
                                return -EINVAL;
                        c -= 0x10000;
                        ret[n++] = (uint16_t) (0xD800 | (c >> 10));
                        ret[n++] = (uint16_t) (0xDC00 | (c & 0x3FF));
                } else {
                        if (n + 1 > REPART_GPT_LABEL_MAX)
                                return -EINVAL;
                        ret[n++] = (uint16_t) c;
                }
                p += len;
                left -= len;
        }
        return 0;
}

char *repart_gpt_label_decode(const uint16_t name[REPART_GPT_LABEL_MAX]) {
        char *s = malloc(REPART_GPT_LABEL_MAX * 4 + 1), *o = s;
        if (!s)
                return NULL;
        for (size_t i = 0; i < REPART_GPT_LABEL_MAX && name[i]; i++) {
                uint32_t c = name[i];
                if (c >= 0xD800 && c <= 0xDBFF && i + 1 < REPART_GPT_LABEL_MAX && name[i + 1] >= 0xDC00 &&
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
