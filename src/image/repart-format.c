/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-format.h"

#include "repart-tool.h"
#include "repart-vfat.h"

#include "base/log.h"
#include "base/spawn.h"
#include "base/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Reproducible-builds rule: no timestamp later than SOURCE_DATE_EPOCH. */
static int clamp_one(const char *path, const struct stat *st, void *userdata) {
        uint64_t epoch = *(const uint64_t *) userdata;
        if ((uint64_t) st->st_mtime <= epoch)
                return 0;
        struct timespec ts[2] = { { .tv_sec = (time_t) epoch }, { .tv_sec = (time_t) epoch } };
        return utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* The tree the file system is made from: the CopyFiles= source itself when it is one directory
 * copied to "/", else a staging copy under workdir. *ret_owned tells the caller to remove it. */
static int stage_tree(const struct repart_format_request *req, bool need_own, char **ret, bool *ret_owned) {
        struct stat st;
        int r;

        for (size_t i = 0; i < req->n_copy_files; i++)
                if (stat(req->copy_files[i].source, &st) < 0)
                        return log_error_errno(errno, "%s: CopyFiles=%s: %s", req->what,
                                               req->copy_files[i].source, strerror(errno));

        if (!need_own && req->n_copy_files == 1 && !req->make_directories &&
            streq(req->copy_files[0].target, "/") && stat(req->copy_files[0].source, &st) >= 0 &&
            S_ISDIR(st.st_mode)) {
                *ret = strdup(req->copy_files[0].source);
                *ret_owned = false;
                return *ret ? 0 : -ENOMEM;
        }

        _cleanup_free_ char *stage = strprintf("%s/stage-%s", req->workdir, req->what);
        if (!stage)
                return -ENOMEM;
        if (mkdir(stage, 0755) < 0)
                return log_error_errno(errno, "%s: cannot create %s: %s", req->what, stage, strerror(errno));
        for (size_t i = 0; i < req->n_copy_files; i++) {
                const struct repart_copy *c = &req->copy_files[i];
                _cleanup_free_ char *dst = path_join(stage, c->target);
                if (!dst || stat(c->source, &st) < 0)
                        return -ENOMEM;
                if (S_ISDIR(st.st_mode)) {
                        r = mkdir_all(dst, 0755);
                        if (r < 0)
                                return log_error_errno(r, "%s: cannot create %s: %s", req->what, dst, strerror(-r));
                        _cleanup_free_ char *src = strprintf("%s/.", c->source), *dstdir = strprintf("%s/", dst);
                        if (!src || !dstdir)
                                return -ENOMEM;
                        char *argv[] = { "cp", "-a", "--reflink=auto", src, dstdir, NULL };
                        r = repart_run_tool(req->what, argv, false);
                } else {
                        char *slash = strrchr(dst, '/');
                        *slash = 0;
                        r = mkdir_all(dst, 0755);
                        *slash = '/';
                        if (r < 0)
                                return log_error_errno(r, "%s: cannot create %s: %s", req->what, dst, strerror(-r));
                        char *argv[] = { "cp", "-a", "--reflink=auto", c->source, dst, NULL };
                        r = repart_run_tool(req->what, argv, false);
                }
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; req->make_directories && req->make_directories[i]; i++) {
                _cleanup_free_ char *d = path_join(stage, req->make_directories[i]);
                if (!d)
                        return -ENOMEM;
                r = mkdir_all(d, 0755);
                if (r < 0)
                        return log_error_errno(r, "%s: MakeDirectories=%s: %s", req->what,
                                               req->make_directories[i], strerror(-r));
        }
        uint64_t epoch;
        if (repart_source_date_epoch(&epoch)) {
                r = repart_walk_tree(stage, clamp_one, &epoch);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot set timestamps in %s: %s", req->what, stage, strerror(-r));
        }
        *ret = TAKE_PTR(stage);
        *ret_owned = true;
        return 0;
}

char *repart_format_label(enum repart_format f, const char *label) {
        size_t max = f == REPART_FORMAT_VFAT ? 11 : f == REPART_FORMAT_SWAP ? 15 : 16;
        char *s = strndup(label, max);
        if (!s)
                return NULL;
        /* Never cut a UTF-8 sequence in half. */
        size_t n = strlen(s);
        while (n > 0 && ((unsigned char) s[n - 1] & 0xC0) == 0x80)
                n--;
        if (n > 0 && ((unsigned char) s[n - 1] & 0xC0) == 0xC0)
                n--;
        if (n < strlen(s) && ((unsigned char) s[strlen(s) - 1] & 0x80))
                s[n] = 0;
        if (f == REPART_FORMAT_VFAT)
                for (char *c = s; *c; c++) {
                        if ((unsigned char) *c >= 0x80 || strchr("*?.,;:/\\|+=<>[]\"", *c))
                                *c = '_';
                        else
                                *c = (char) toupper((unsigned char) *c);
                }
        return s;
}


struct fix_times {
        FILE *f;
        size_t root_len;
        uint64_t epoch;
};

static int fix_one(const char *path, const struct stat *st, void *userdata) {
        struct fix_times *x = userdata;
        const char *p = path + x->root_len;
        (void) st;
        if (*p == 0)
                p = "/";
        /* debugfs takes double-quoted names; a name with a quote or newline cannot be written. */
        if (strpbrk(p, "\"\n"))
                return 0;
        fprintf(x->f, "sif \"%s\" atime @%" PRIu64 "\nsif \"%s\" ctime @%" PRIu64 "\n", p, x->epoch, p, x->epoch);
        return 0;
}

/* mke2fs copies access and change times of the source files; with SOURCE_DATE_EPOCH set we
 * overwrite them afterwards (debugfs), everything else is fixed by E2FSPROGS_FAKE_TIME. */
static int ext4_fix_times(const struct repart_format_request *req, const char *output, const char *root) {
        struct fix_times x = { .root_len = strlen(root) };
        if (!repart_source_date_epoch(&x.epoch))
                return 0;
        _cleanup_free_ char *cmds = strprintf("%s/debugfs-%s", req->workdir, req->what);
        if (!cmds)
                return -ENOMEM;
        x.f = fopen(cmds, "we");
        if (!x.f)
                return log_error_errno(errno, "%s: cannot create %s: %s", req->what, cmds, strerror(errno));
        int r = repart_walk_tree(root, fix_one, &x);
        if (fclose(x.f) != 0 && r >= 0)
                r = -errno;
        if (r < 0)
                return log_error_errno(r, "%s: cannot list %s: %s", req->what, root, strerror(-r));
        char *argv[] = { "debugfs", "-w", "-f", cmds, (char *) output, NULL };
        r = repart_run_tool(req->what, argv, false);
        (void) unlink(cmds);
        return r;
}


int repart_format_build(const struct repart_format_request *req, const char *output, uint64_t *ret_size) {
        char uuid[37];
        uuid_format(req->fs_uuid, uuid);
        _cleanup_free_ char *label = repart_format_label(req->format, req->label);
        _cleanup_free_ char *root = NULL;
        bool owned = false, has_content = req->n_copy_files > 0 || req->make_directories;
        uint64_t size = req->size;
        int r;

        if (!label)
                return -ENOMEM;
        if (has_content) {
                /* vfat always stages: directory timestamps must be clamped before mcopy. */
                r = stage_tree(req, req->format == REPART_FORMAT_VFAT, &root, &owned);
                if (r < 0)
                        return r;
        }

        switch (req->format) {
        case REPART_FORMAT_EXT4: {
                _cleanup_free_ char *ext = strprintf("nodiscard,lazy_itable_init=1,hash_seed=%s", uuid);
                if (!ext)
                        return -ENOMEM;
                r = repart_create_sized(req->what, output, size);
                if (r < 0)
                        break;
                char *argv[] = { "mkfs.ext4", "-q", "-F", "-L", label, "-U", uuid, "-I", "256", "-m", "0",
                                 "-E", ext, "-b", "4096", "-T", "default", (char *) output, NULL, NULL, NULL };
                if (root) {
                        argv[17] = "-d";
                        argv[18] = root;
                        argv[19] = (char *) output;
                }
                r = repart_run_tool(req->what, argv, false);
                if (r >= 0 && root)
                        r = ext4_fix_times(req, output, root);
                break;
        }
        case REPART_FORMAT_VFAT:
                r = repart_vfat_build(req, output, size, label, root);
                break;
        case REPART_FORMAT_SWAP: {
                r = repart_create_sized(req->what, output, size);
                if (r < 0)
                        break;
                char *argv[] = { "mkswap", "-L", label, "-U", uuid, (char *) output, NULL };
                r = repart_run_tool(req->what, argv, false);
                break;
        }
        case REPART_FORMAT_SQUASHFS: {
                (void) unlink(output);
                char *argv[] = { "mksquashfs", root, (char *) output, "-noappend", "-quiet", "-no-progress", NULL };
                r = repart_run_tool(req->what, argv, false);
                break;
        }
        case REPART_FORMAT_EROFS: {
                (void) unlink(output);
                uint64_t epoch;
                char t[32] = "";
                if (repart_source_date_epoch(&epoch))
                        snprintf(t, sizeof(t), "-T%" PRIu64, epoch);
                char *argv[] = { "mkfs.erofs", "--quiet", "-U", uuid, (char *) output, root, NULL, NULL };
                if (*t) {
                        argv[4] = t;
                        argv[5] = (char *) output;
                        argv[6] = root;
                }
                r = repart_run_tool(req->what, argv, false);
                break;
        }
        default:
                r = -EINVAL;
        }
        if (owned) {
                int q = rm_rf(root);
                if (q < 0 && r >= 0)
                        r = log_error_errno(q, "%s: cannot remove %s: %s", req->what, root, strerror(-q));
        }
        if (r < 0)
                return r;

        if (repart_format_is_read_only(req->format)) {
                struct stat st;
                if (stat(output, &st) < 0)
                        return log_error_errno(errno, "%s: %s: %s", req->what, output, strerror(errno));
                size = (uint64_t) st.st_size;
                if (size > req->size) {
                        char a[16], b[16];
                        return log_error_errno(EFBIG, "%s: %s image is %s, larger than the partition (%s)", req->what,
                                               repart_format_to_string(req->format), format_bytes(a, size),
                                               format_bytes(b, req->size));
                }
        }
        *ret_size = size;
        return 0;
}

/* Bytes a tree takes: every entry rounded up to 4 KiB blocks, plus one block for its inode. */
static int add_bytes(const char *path, const struct stat *st, void *userdata) {
        (void) path;
        *(uint64_t *) userdata += ((uint64_t) st->st_size + 4095) / 4096 * 4096 + 4096;
        return 0;
}

static int ext4_used_bytes(const char *what, const char *image, uint64_t *ret) {
        _cleanup_free_ char *exe = NULL, *out = NULL;
        int r = find_executable("dumpe2fs", &exe);
        if (r < 0)
                return log_error_errno(r, "%s: dumpe2fs not found", what);
        char *argv[] = { exe, "-h", (char *) image, NULL };
        r = spawn_capture(argv, &out);
        if (r != 0)
                return log_error_errno(r < 0 ? r : EIO, "%s: dumpe2fs failed on %s", what, image);
        const char *bc = strstr(out, "\nBlock count:"), *fb = strstr(out, "\nFree blocks:"),
                   *bs = strstr(out, "\nBlock size:");
        unsigned long long count, free_blocks, size;
        if (!bc || !fb || !bs || sscanf(bc, "\nBlock count: %llu", &count) != 1 ||
            sscanf(fb, "\nFree blocks: %llu", &free_blocks) != 1 || sscanf(bs, "\nBlock size: %llu", &size) != 1 ||
            free_blocks > count)
                return log_error_errno(EBADMSG, "%s: cannot parse dumpe2fs output for %s", what, image);
        *ret = (uint64_t) (count - free_blocks) * size;
        return 0;
}

int repart_format_guess_size(const struct repart_format_request *req, const char *scratch, uint64_t *ret) {
        uint64_t content = 0, used = 0, size;
        int r;

        if (req->format != REPART_FORMAT_EXT4)
                return log_error_errno(EOPNOTSUPP, "%s: Minimize=guess supports ext4 only", req->what);
        for (size_t i = 0; i < req->n_copy_files; i++) {
                r = repart_walk_tree(req->copy_files[i].source, add_bytes, &content);
                if (r < 0)
                        return log_error_errno(r, "%s: CopyFiles=%s: %s", req->what, req->copy_files[i].source,
                                               strerror(-r));
        }
        /* Build once with plenty of room, measure what is allocated, add half again (as
         * systemd-repart does). The scratch file is sparse: only used blocks cost. */
        struct repart_format_request big = *req;
        big.size = content * 4 > 64 * 1024 * 1024 ? (content * 4 + 4095) / 4096 * 4096 : 64 * 1024 * 1024;
        r = repart_format_build(&big, scratch, &size);
        if (r >= 0)
                r = ext4_used_bytes(req->what, scratch, &used);
        (void) unlink(scratch);
        if (r < 0)
                return r;
        *ret = (used + used / 2 + 4095) / 4096 * 4096;
        return 0;
}

int repart_copy_sparse(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off, uint64_t n) {
        uint64_t end = in_off + n, pos = in_off;

        while (pos < end) {
                off_t data = lseek(in_fd, (off_t) pos, SEEK_DATA);
                if (data < 0 && errno == ENXIO)
                        break; /* only a hole remains */
                if (data < 0)
                        return -errno;
                if ((uint64_t) data >= end)
                        break;
                off_t hole = lseek(in_fd, data, SEEK_HOLE);
                if (hole < 0)
                        return -errno;
                uint64_t chunk_end = (uint64_t) hole < end ? (uint64_t) hole : end;
                off_t ip = data, op = (off_t) (out_off + ((uint64_t) data - in_off));
                uint64_t left = chunk_end - (uint64_t) data;
                while (left > 0) {
                        size_t want = left > (UINT64_C(1) << 30) ? (size_t) 1 << 30 : (size_t) left;
                        ssize_t k = copy_file_range(in_fd, &ip, out_fd, &op, want, 0);
                        if (k < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
                                char tmp[1 << 16];
                                size_t m = want < sizeof(tmp) ? want : sizeof(tmp);
                                k = pread(in_fd, tmp, m, ip);
                                if (k > 0) {
                                        ssize_t w = pwrite(out_fd, tmp, (size_t) k, op);
                                        if (w != k)
                                                return w < 0 ? -errno : -EIO;
                                        ip += k;
                                        op += k;
                                }
                        }
                        if (k < 0)
                                return -errno;
                        if (k == 0)
                                return -EIO;
                        left -= (uint64_t) k;
                }
                pos = chunk_end;
        }
        return 0;
}
