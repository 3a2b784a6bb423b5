/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-vfat.h"

#include "repart-tool.h"

#include "base/log.h"
#include "base/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}
static uint32_t le32(const uint8_t *p) {
        return (uint32_t) le16(p) | (uint32_t) le16(p + 2) << 16;
}

uint64_t repart_vfat_clusters(const uint8_t b[512]) {
        uint32_t bps = le16(b + 11), spc = b[13], reserved = le16(b + 14), fats = b[16];
        uint32_t root_secs, fat_size = le16(b + 22) ? le16(b + 22) : le32(b + 36);
        uint64_t total = le16(b + 19) ? le16(b + 19) : le32(b + 32);
        if (b[510] != 0x55 || b[511] != 0xAA || bps < 512 || bps > 4096 || spc == 0 || fats == 0)
                return 0;
        root_secs = (le16(b + 17) * 32u + bps - 1) / bps;
        uint64_t meta = (uint64_t) reserved + (uint64_t) fats * fat_size + root_secs;
        return total > meta ? (total - meta) / spc : 0;
}

static bool path_below(const char *p, const char *dir) {
        const char *rest = startswith(p, dir);
        return rest && (*rest == 0 || *rest == '/' || streq(dir, "/"));
}

struct link_check {
        const struct repart_format_request *req;
        size_t root_len;
        char **trees;                   /* resolved: the staged tree and every CopyFiles= source */
};

/* vfat keeps no links: mtools copies what a link points to. Only what lies inside the source
 * trees may be copied that way. */
static int check_link(const char *path, const struct stat *st, void *userdata) {
        struct link_check *x = userdata;
        if (!S_ISLNK(st->st_mode))
                return 0;
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n < 0 ? 0 : n] = 0;
        _cleanup_free_ char *resolved = realpath(path, NULL), *parent = strdup(path);
        if (!parent)
                return -ENOMEM;
        *strrchr(parent, '/') = 0;
        _cleanup_free_ char *parent_resolved = realpath(parent, NULL);
        const char *why = NULL;
        struct stat t;
        if (!resolved || stat(resolved, &t) < 0)
                why = "points nowhere";
        else {
                bool inside = false;
                for (size_t i = 0; x->trees[i] && !inside; i++)
                        inside = path_below(resolved, x->trees[i]);
                if (!inside)
                        why = "points outside the source tree";
                else if (S_ISDIR(t.st_mode) && parent_resolved && path_below(parent_resolved, resolved))
                        why = "points to a directory that contains it";
        }
        if (why)
                return log_error_errno(EPERM, "%s: CopyFiles=: refusing %s -> %s: the link %s, and vfat cannot "
                                       "keep links", x->req->what, path + x->root_len, target, why);
        return 0;
}

static int check_links(const struct repart_format_request *req, const char *root) {
        _cleanup_strv_free_ char **trees = NULL;
        char *r0 = realpath(root, NULL);
        int r = r0 ? strv_push(&trees, r0) : -errno;
        for (size_t i = 0; r >= 0 && i < req->n_copy_files; i++) {
                char *s = realpath(req->copy_files[i].source, NULL);
                if (s)
                        r = strv_push(&trees, s);
        }
        if (r < 0)
                return r;
        struct link_check x = { .req = req, .root_len = strlen(root), .trees = trees };
        return repart_walk_tree(root, check_link, &x);
}

static int populate(const struct repart_format_request *req, const char *output, const char *root, bool quiet) {
        _cleanup_free_ struct dirent **entries = NULL;
        int n = scandir(root, &entries, NULL, alphasort);
        if (n < 0)
                return log_error_errno(errno, "%s: cannot read %s: %s", req->what, root, strerror(errno));
        _cleanup_strv_free_ char **argv = NULL;
        int r = 0;
        const char *head[] = { "mcopy", "-s", "-p", "-Q", "-m", "-i", output };
        for (size_t i = 0; i < ELEMENTSOF(head) && r >= 0; i++)
                r = strv_extend(&argv, head[i]);
        size_t n_args = 0;
        for (int i = 0; i < n; i++) {
                if (r >= 0 && !streq(entries[i]->d_name, ".") && !streq(entries[i]->d_name, "..")) {
                        r = strv_push(&argv, path_join(root, entries[i]->d_name));
                        n_args++;
                }
                free(entries[i]);
        }
        if (r < 0)
                return r;
        if (n_args == 0)
                return 0;
        r = strv_extend(&argv, "::/");
        if (r < 0)
                return r;
        return repart_run_tool(req->what, argv, quiet);
}

static int mkfs(const struct repart_format_request *req, const char *output, uint64_t size, const char *label,
                bool fat32, bool quiet) {
        char volid[9];
        hex_format(req->fs_uuid, 4, volid);
        for (char *c = volid; *c; c++)
                *c = (char) toupper((unsigned char) *c);
        int r = repart_create_sized(req->what, output, size);
        if (r < 0)
                return r;
        /* mkfs.fat 4.2 stamps the volume label entry with the current time and ignores
         * SOURCE_DATE_EPOCH; --invariant fixes it (and keeps the -i volume id). --invariant
         * first: a later -i must win over its constant volume id. */
        uint64_t epoch;
        bool fixed = repart_source_date_epoch(&epoch);
        char *argv[] = { "mkfs.vfat", "--invariant", "-i", volid, "-n", (char *) label, "-F", "32", (char *) output, NULL };
        if (!fat32) {
                argv[6] = argv[8];
                argv[7] = NULL;
        }
        if (!fixed)
                argv[1] = argv[0];
        return repart_run_tool(req->what, fixed ? argv : argv + 1, quiet);
}

static int make(const struct repart_format_request *req, const char *output, uint64_t size, const char *label,
                const char *root, bool quiet) {
        /* systemd-repart 252 always asks for FAT32, which below about 33 MiB gives fewer clusters
         * than a FAT32 may have: mtools cannot write it and some firmware does not read it. */
        uint8_t boot[512];
        int r = mkfs(req, output, size, label, true, true);
        if (r >= 0) {
                _cleanup_close_ int fd = open(output, O_RDONLY | O_CLOEXEC);
                r = fd >= 0 ? pread_full(fd, boot, sizeof(boot), 0) : -errno;
        }
        if (r < 0 || repart_vfat_clusters(boot) < REPART_FAT32_MIN_CLUSTERS)
                r = mkfs(req, output, size, label, false, quiet);
        if (r >= 0 && root)
                r = populate(req, output, root, quiet);
        return r;
}

/* Bytes the files take at most: what links point to counts again, as mtools copies it. */
static int add_bytes(const char *path, const struct stat *st, void *userdata) {
        struct stat t;
        if (S_ISLNK(st->st_mode) && stat(path, &t) >= 0)
                st = &t;
        *(uint64_t *) userdata += ((uint64_t) st->st_size + 4095) / 4096 * 4096 + 4096;
        return 0;
}

/* The least size (a multiple of 4 KiB) at which the files fit, by trying; 0 when not even
 * twice their bytes and more holds them (the failure is not about space). */
static uint64_t least_size(const struct repart_format_request *req, const char *output, uint64_t size,
                           const char *label, const char *root) {
        _cleanup_free_ char *probe = strprintf("%s.probe", output);
        uint64_t lo = size, hi = (size * 2 + 1024 * 1024 + 4095) / 4096 * 4096, bytes = 0;
        if (!probe || repart_walk_tree(root, add_bytes, &bytes) < 0)
                return 0;
        uint64_t cap = size + 2 * bytes + 64 * 1024 * 1024;
        while (make(req, probe, hi, label, root, true) < 0) {
                if (hi > cap) {
                        (void) unlink(probe);
                        return 0;
                }
                lo = hi;
                hi *= 2;
        }
        while (hi - lo > 4096) {
                uint64_t mid = (lo + (hi - lo) / 2 + 4095) / 4096 * 4096;
                if (mid >= hi)
                        break;
                if (make(req, probe, mid, label, root, true) >= 0)
                        hi = mid;
                else
                        lo = mid;
        }
        (void) unlink(probe);
        return hi;
}

int repart_vfat_build(const struct repart_format_request *req, const char *output, uint64_t size,
                      const char *label, const char *root) {
        int r;
        if (root) {
                r = check_links(req, root);
                if (r < 0)
                        return r;
        }
        if (make(req, output, size, label, root, true) >= 0)
                return 0;
        uint64_t need = root ? least_size(req, output, size, label, root) : 0;
        if (need == 0)
                return make(req, output, size, label, root, false); /* logs why */
        char a[16], b[16];
        return log_error_errno(EFBIG, "%s: the files do not fit into a vfat of %s, it needs at least %s "
                               "(SizeMinBytes=%" PRIu64 ")", req->what, format_bytes(a, size), format_bytes(b, need), need);
}
