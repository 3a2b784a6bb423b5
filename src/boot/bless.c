/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bless.h"

#include "base/chase.h"
#include "base/conf.h"
#include "base/log.h"
#include "base/spawn.h"
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

void boot_counter_done(struct boot_counter *c) {
        free(c->prefix);
        free(c->suffix);
        *c = (struct boot_counter) {};
}

static int parse_decimal(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;
        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!isdigit((unsigned char) s[i]))
                        return -EINVAL;
                v = v * 10 + (uint64_t) (s[i] - '0');
                /* The loader refuses counters above INT_MAX; so do we. */
                if (v > INT_MAX)
                        return -ERANGE;
        }
        *ret = v;
        return 0;
}

int boot_counter_parse(const char *name, struct boot_counter *ret) {
        const char *plus = strrchr(name, '+');
        if (!plus || plus == name)
                return -EINVAL;
        const char *suffix = NULL;
        static const char *const suffixes[] = { ".efi", ".conf" };
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t l = strlen(name), sl = strlen(suffixes[i]);
                if (l > sl && strcasecmp(name + l - sl, suffixes[i]) == 0)
                        suffix = name + l - sl;
        }
        if (!suffix || suffix <= plus)
                return -EINVAL;

        const char *dash = memchr(plus + 1, '-', (size_t) (suffix - plus - 1));
        uint64_t left, done = 0;
        if (parse_decimal(plus + 1, (size_t) ((dash ?: suffix) - plus - 1), &left) < 0)
                return -EINVAL;
        if (dash && parse_decimal(dash + 1, (size_t) (suffix - dash - 1), &done) < 0)
                return -EINVAL;

        char *p = strndup(name, (size_t) (plus - name)), *s = strdup(suffix);
        if (!p || !s) {
                free(p);
                free(s);
                return -ENOMEM;
        }
        *ret = (struct boot_counter) { .prefix = p, .suffix = s, .left = left, .done = done };
        return 0;
}

char *boot_counter_good_name(const struct boot_counter *c) {
        return strprintf("%s%s", c->prefix, c->suffix);
}

char *boot_counter_bad_name(const struct boot_counter *c) {
        if (c->done == 0)
                return strprintf("%s+0%s", c->prefix, c->suffix);
        return strprintf("%s+0-%" PRIu64 "%s", c->prefix, c->done, c->suffix);
}

/* UTF-16LE (stopping at the first NUL) to UTF-8; unpaired surrogates are an error. */
static int utf16le_to_utf8(const uint8_t *p, size_t n, char **ret) {
        _cleanup_free_ char *out = malloc(n / 2 * 3 + 1);
        size_t o = 0;
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < n; i += 2) {
                uint32_t c = (uint32_t) p[i] | (uint32_t) p[i + 1] << 8;
                if (c == 0)
                        break;
                if (c >= 0xd800 && c < 0xdc00) {
                        if (i + 3 >= n)
                                return -EILSEQ;
                        uint32_t lo = (uint32_t) p[i + 2] | (uint32_t) p[i + 3] << 8;
                        if (lo < 0xdc00 || lo >= 0xe000)
                                return -EILSEQ;
                        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                        i += 2;
                } else if (c >= 0xdc00 && c < 0xe000)
                        return -EILSEQ;
                /* A surrogate pair is 4 input bytes and 4 output bytes, so n/2*3 suffices. */
                if (c < 0x80)
                        out[o++] = (char) c;
                else if (c < 0x800) {
                        out[o++] = (char) (0xc0 | c >> 6);
                        out[o++] = (char) (0x80 | (c & 0x3f));
                } else if (c < 0x10000) {
                        out[o++] = (char) (0xe0 | c >> 12);
                        out[o++] = (char) (0x80 | ((c >> 6) & 0x3f));
                        out[o++] = (char) (0x80 | (c & 0x3f));
                } else {
                        out[o++] = (char) (0xf0 | c >> 18);
                        out[o++] = (char) (0x80 | ((c >> 12) & 0x3f));
                        out[o++] = (char) (0x80 | ((c >> 6) & 0x3f));
                        out[o++] = (char) (0x80 | (c & 0x3f));
                }
        }
        out[o] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

int efivar_read_string(const char *efivarfs, const char *name, const char *guid, char **ret) {
        _cleanup_free_ char *fn = strprintf("%s-%s", name, guid);
        _cleanup_free_ char *path = fn ? path_join(efivarfs, fn) : NULL;
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, 64 * 1024, &data, &size);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return log_error_errno(r, "%s: cannot read EFI variable: %s", path, strerror(-r));
        if (size < 4 || (size - 4) % 2 != 0)
                return log_error_errno(EBADMSG, "%s: %zu bytes, not 4 attribute bytes and a UTF-16 string",
                                       path, size);
        r = utf16le_to_utf8((const uint8_t *) data + 4, size - 4, ret);
        if (r < 0)
                return log_error_errno(r, "%s: invalid UTF-16 string", path);
        return 0;
}

int bless_read_count_path(const char *efivarfs, char **ret) {
        _cleanup_free_ char *v = NULL;
        int r = efivar_read_string(efivarfs, "LoaderBootCountPath", LOADER_VENDOR_GUID, &v);
        if (r < 0)
                return r;
        for (char *p = v; *p; p++)
                if (*p == '\\')
                        *p = '/';
        struct boot_counter c = {};
        if (!path_is_absolute(v) || !path_is_normalized(v) || boot_counter_parse(path_basename(v), &c) < 0)
                return log_error_errno(EINVAL, "%s/LoaderBootCountPath-%s: '%s' is not an absolute path "
                                       "to a file with a boot counter", efivarfs, LOADER_VENDOR_GUID, v);
        boot_counter_done(&c);
        *ret = TAKE_PTR(v);
        return 0;
}

const char *bless_state_to_string(enum bless_state s) {
        static const char *const names[] = {
                [BLESS_CLEAN] = "clean",
                [BLESS_GOOD] = "good",
                [BLESS_BAD] = "bad",
                [BLESS_INDETERMINATE] = "indeterminate",
                [BLESS_DIRTY] = "dirty",
        };
        return string_table_to_string(names, ELEMENTSOF(names), s);
}

/* The entry's directory (relative to the ESP) and its three names. */
struct entry_names {
        char *dir;
        char *original, *good, *bad;
        struct boot_counter counter;
};

static void entry_names_done(struct entry_names *e) {
        free(e->dir);
        free(e->original);
        free(e->good);
        free(e->bad);
        boot_counter_done(&e->counter);
}

static int entry_names_make(const char *count_path, struct entry_names *ret) {
        const char *base = path_basename(count_path);
        struct entry_names e = {};
        int r = boot_counter_parse(base, &e.counter);
        if (r < 0)
                return log_error_errno(r, "%s: no boot counter in the file name", count_path);
        e.dir = strndup(count_path, (size_t) (base - count_path));
        e.original = strdup(base);
        e.good = boot_counter_good_name(&e.counter);
        e.bad = boot_counter_bad_name(&e.counter);
        if (!e.dir || !e.original || !e.good || !e.bad) {
                entry_names_done(&e);
                return -ENOMEM;
        }
        *ret = e;
        return 0;
}

static bool exists_at(int dirfd, const char *name) {
        struct stat st;
        return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int open_entry_dir(const char *esp, const struct entry_names *e, int *ret) {
        _cleanup_free_ char *d = path_join(esp, e->dir);
        if (!d)
                return -ENOMEM;
        int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret = fd;
        return 0;
}

int bless_find_esp(const char *root, const char *esp, const char *count_path, char **ret) {
        static const char *const candidates[] = { "/efi", "/boot", "/boot/efi" };
        _cleanup_(entry_names_done) struct entry_names e = {};
        int r = entry_names_make(count_path, &e);
        if (r < 0)
                return r;

        for (size_t i = 0; i < (esp ? 1 : ELEMENTSOF(candidates)); i++) {
                _cleanup_free_ char *dir = NULL;
                _cleanup_close_ int fd = -1;
                r = esp ? ((dir = strdup(esp)) ? 0 : -ENOMEM) : chase(root, candidates[i], CHASE_NONEXISTENT, &dir);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                if (open_entry_dir(dir, &e, &fd) < 0)
                        continue;
                if (exists_at(fd, e.original) || exists_at(fd, e.good) || exists_at(fd, e.bad)) {
                        *ret = TAKE_PTR(dir);
                        return 0;
                }
        }
        if (esp)
                return log_error_errno(ENOENT, "%s: no %s%s (nor its good or bad name) below it",
                                       esp, e.dir, e.original);
        return log_error_errno(ENOENT, "%s%s (nor its good or bad name) not found below /efi, /boot "
                               "or /boot/efi%s%s", e.dir, e.original, root ? " in " : "", root ?: "");
}

/* The entry's names and its directory in the ESP, opened. */
static int entry_open(const char *esp, const char *count_path, struct entry_names *e, int *ret_fd) {
        int r = entry_names_make(count_path, e);
        if (r < 0)
                return r;
        r = open_entry_dir(esp, e, ret_fd);
        if (r < 0)
                return log_error_errno(r, "%s%s: cannot open: %s", esp, e->dir, strerror(-r));
        return 0;
}

int bless_get_state(const char *esp, const char *count_path, enum bless_state *ret) {
        _cleanup_(entry_names_done) struct entry_names e = {};
        _cleanup_close_ int fd = -1;
        int r = entry_open(esp, count_path, &e, &fd);
        if (r < 0)
                return r;

        /* A "+0-N" name is both the original and the bad name; it is bad only once blessed so. */
        if (exists_at(fd, e.original))
                *ret = e.counter.left == 0 ? BLESS_DIRTY : BLESS_INDETERMINATE;
        else if (exists_at(fd, e.good))
                *ret = BLESS_GOOD;
        else if (exists_at(fd, e.bad))
                *ret = BLESS_BAD;
        else
                return log_error_errno(ENOENT, "%s%s%s: entry not found under any of its names",
                                       esp, e.dir, e.original);
        return 0;
}

/* rename without replacing: renameat2(RENAME_NOREPLACE), which vfat has had since Linux 4.9. Only
 * where a kernel or file system refuses the flag (EINVAL, ENOSYS) is it a check followed by a
 * rename, which is not atomic: a file created in between would be replaced. Nothing else of
 * abota creates these names (update writes the names of a new version, never the booted one's). */
static int rename_noreplace(int dirfd, const char *from, const char *to) {
        if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return -errno;
        if (exists_at(dirfd, to))
                return -EEXIST;
        return renameat(dirfd, from, dirfd, to) < 0 ? -errno : 0;
}

int bless_mark(const char *esp, const char *count_path, enum bless_state target) {
        _cleanup_(entry_names_done) struct entry_names e = {};
        _cleanup_close_ int fd = -1;
        int r = entry_open(esp, count_path, &e, &fd);
        if (r < 0)
                return r;

        /* Where the entry should end up, and the names it may have now, tried in order. */
        const char *to, *from[2];
        switch (target) {
        case BLESS_GOOD:
                to = e.good, from[0] = e.original, from[1] = e.bad;
                break;
        case BLESS_BAD:
                to = e.bad, from[0] = e.original, from[1] = e.good;
                break;
        case BLESS_INDETERMINATE:
                to = e.original, from[0] = e.good, from[1] = e.bad;
                break;
        default:
                return -EINVAL;
        }

        if (exists_at(fd, to))
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(from); i++) {
                if (streq(from[i], to))
                        continue;
                r = rename_noreplace(fd, from[i], to);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return log_error_errno(r, "%s%s%s: cannot rename to %s: %s", esp, e.dir, from[i],
                                               to, strerror(-r));
                /* The loader reads the directory on the next boot: the rename must be on disk,
                 * and on vfat the new entry gets its size and clusters only with the file's
                 * inode, so the file is synced under its new name before the directory. */
                _cleanup_close_ int entry = openat(fd, to, O_RDONLY | O_CLOEXEC);
                if (entry < 0 || fsync(entry) < 0 || fsync(fd) < 0 || syncfs(fd) < 0) {
                        r = -errno;
                        return log_error_errno(r, "%s%s: cannot sync: %s", esp, e.dir, strerror(-r));
                }
                return 1;
        }
        return log_error_errno(ENOENT, "%s%s%s: entry not found under any of its names", esp, e.dir,
                               e.original);
}

int health_checks_run(const char *root, unsigned *ret_n_run) {
        static const char *const dirs[] = { "/etc/abota/health.d", "/usr/lib/abota/health.d", NULL };
        _cleanup_strv_free_ char **files = NULL;
        unsigned failed = 0, n = 0;
        int r = conf_files_list(root, (const char *const *) dirs, "", &files);
        if (r < 0)
                return r;
        for (char **f = files; f && *f; f++) {
                /* Like run-parts: a file that is not executable (a README) is not a check. */
                if (access(*f, X_OK) < 0)
                        continue;
                n++;
                char *argv[] = { *f, NULL };
                _cleanup_free_ char *output = NULL;
                r = spawn_capture(argv, &output);
                if (r == 0)
                        continue;
                failed++;
                _cleanup_free_ char *why = output ? spawn_output_reason(output, NULL, NULL) : NULL;
                if (r < 0)
                        log_error("health check %s: cannot run: %s", *f, strerror(-r));
                else if (r > 128)
                        log_error("health check %s: killed by signal %d%s%s", *f, r - 128, isempty(why) ? "" : ": ",
                                  why ?: "");
                else
                        log_error("health check %s: failed with exit status %d%s%s", *f, r, isempty(why) ? "" : ": ",
                                  why ?: "");
        }
        if (ret_n_run)
                *ret_n_run = n;
        return (int) failed;
}
