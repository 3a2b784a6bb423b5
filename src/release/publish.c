/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "publish.h"

#include "delta.h"
#include "publish-blocks.h"
#include "publish-temp.h"

#include "base/compress.h"
#include "base/gpg.h"
#include "sysupdate/instance.h"
#include "base/log.h"
#include "sysupdate/manifest.h"
#include "sysupdate/block-index.h"
#include "sysupdate/patch.h"
#include "base/util.h"
#include "sysupdate/version.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#define MANIFEST_NAME "SHA256SUMS"
#define SIGNATURE_NAME "SHA256SUMS.gpg"

void publish_result_done(struct publish_result *r) {
        free(r->version);
        strv_free(r->added);
        strv_free(r->removed);
        strv_free(r->dropped_versions);
        *r = (struct publish_result) {};
}

/* A file already in the update directory. */
struct dir_file {
        char *name;
        char *version;  /* NULL when no pattern matches: listed, never removed */
        bool replaced;  /* a new payload of the same name takes its place */
        bool removed;   /* belongs to a version dropped by keep */
};

struct dir_files {
        struct dir_file *files;
        size_t n;
};

static void dir_files_done(struct dir_files *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->files[i].name);
                free(l->files[i].version);
        }
        free(l->files);
        *l = (struct dir_files) {};
}

/* The output end of a copy: writes everything and hashes what it wrote (the hash sysupdate
 * checks is that of the bytes as downloaded, i.e. compressed). */
struct sink {
        int fd;
        const char *path;
        EVP_MD_CTX *sha256;
};

static int sink_write(struct sink *s, const void *data, size_t n) {
        if (EVP_DigestUpdate(s->sha256, data, n) != 1)
                return log_error_errno(EIO, "%s: SHA-256 computation failed", s->path);
        if (s->fd < 0)
                return 0; /* hashing only */
        const uint8_t *p = data;
        while (n > 0) {
                ssize_t k = write(s->fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        return log_error_errno(r, "%s: write failed: %s", s->path, strerror(-r));
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static void evp_freep(EVP_MD_CTX **c) {
        EVP_MD_CTX_free(*c);
}

static int sink_write_cb(const void *data, size_t n, void *userdata) {
        return sink_write(userdata, data, n);
}

/* Streams in through the compressor c into out_fd (or nowhere when out_fd < 0) and returns the
 * SHA-256 of the output. */
static int stream_hashed(int in, const char *in_path, uint64_t size, enum compression c, int level, int out_fd,
                         const char *out_path, uint8_t ret_sha256[32]) {
        _cleanup_(evp_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                return log_error_errno(ENOMEM, "%s: cannot set up SHA-256", in_path);
        struct sink sink = { .fd = out_fd, .path = out_path, .sha256 = ctx };
        int r = compress_stream(in, in_path, c, level, size, sink_write_cb, &sink);
        if (r < 0)
                return r;
        unsigned len = 0;
        if (EVP_DigestFinal_ex(ctx, ret_sha256, &len) != 1 || len != 32)
                return log_error_errno(EIO, "%s: SHA-256 computation failed", in_path);
        return 0;
}

/* Copies (and compresses) path into the open temporary file out_fd, fsyncs it, and returns the
 * SHA-256 of what was written. */
static int payload_write(const char *path, int out_fd, const char *out_path, const struct publish_options *o,
                         uint8_t ret_sha256[32]) {
        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (in < 0 || fstat(in, &st) < 0) {
                int r = -errno;
                return log_error_errno(r, "%s: cannot open: %s", path, strerror(-r));
        }
        int r = stream_hashed(in, path, (uint64_t) st.st_size, o->compression, o->level, out_fd, out_path, ret_sha256);
        if (r < 0)
                return r;
        if (fsync(out_fd) < 0) {
                r = -errno;
                return log_error_errno(r, "%s: fsync failed: %s", out_path, strerror(-r));
        }
        return 0;
}

static int hash_file_at(int dir_fd, const char *dir, const char *name, uint8_t ret[32]) {
        _cleanup_free_ char *path = path_join(dir, name);
        if (!path)
                return -ENOMEM;
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                int r = -errno;
                return log_error_errno(r, "%s: cannot open: %s", path, strerror(-r));
        }
        return stream_hashed(fd, path, UINT64_MAX, COMPRESSION_NONE, 0, -1, NULL, ret);
}

/* The version a name carries, NULL (and 0) when no pattern matches. */
static int name_version(const struct publish_options *o, const char *name, char **ret) {
        struct instance_metadata m;
        instance_metadata_init(&m);
        int r = pattern_match_many(o->patterns, o->n_patterns, name, &m);
        if (r < 0) {
                instance_metadata_done(&m);
                return r;
        }
        *ret = r == PATTERN_YES ? TAKE_PTR(m.version) : NULL;
        instance_metadata_done(&m);
        return 0;
}

static bool name_is_reserved(const char *name) {
        return startswith(name, MANIFEST_NAME) || startswith(name, TEMP_PREFIX);
}

/* A copy of a hostile name that is safe to print: bytes outside printable ASCII become '?'. */
static char *printable(const char *s) {
        char *t = strdup(s);
        for (char *c = t; c && *c; c++)
                if ((unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f)
                        *c = '?';
        return t;
}

/* The names temp_file_create() makes: TEMP_PREFIX NAME ".XXXXXX" (mkostemp's six characters). */
static bool is_leftover_temp(const char *name) {
        const char *rest = startswith(name, TEMP_PREFIX);
        size_t n = rest ? strlen(rest) : 0;
        if (n < 8 || rest[n - 7] != '.')
                return false;
        for (size_t i = n - 6; i < n; i++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", rest[i]))
                        return false;
        return true;
}

static int patterns_list(const struct publish_options *o, char **ret) {
        _cleanup_free_ char *s = strdup("");
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < o->n_patterns; i++) {
                char *t = strprintf("%s%s%s", s, i > 0 ? " " : "", pattern_string(o->patterns[i]));
                if (!t)
                        return -ENOMEM;
                free(s);
                s = t;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* Checks the new payloads: regular files whose names match a pattern, all of one version. */
static int check_payloads(const struct publish_options *o, char **ret_version) {
        _cleanup_free_ char *version = NULL;
        const char *version_file = NULL;
        for (size_t i = 0; i < o->n_files; i++) {
                const char *path = o->files[i], *name = path_basename(path);
                struct stat st;
                if (stat(path, &st) < 0) {
                        int r = -errno;
                        return log_error_errno(r, "%s: %s", path, strerror(-r));
                }
                if (!S_ISREG(st.st_mode))
                        return log_error_errno(EINVAL, "%s: not a regular file", path);
                if (!filename_is_valid(name) || name_is_reserved(name))
                        return log_error_errno(EINVAL, "%s: '%s' cannot be published (reserved name)", path, name);
                const char *why = manifest_name_check(name);
                if (why) {
                        _cleanup_free_ char *shown = printable(path);
                        return log_error_errno(EINVAL, "%s: cannot be listed in SHA256SUMS: %s", shown ? shown : "?", why);
                }
                for (size_t j = 0; j < i; j++)
                        if (streq(path_basename(o->files[j]), name))
                                return log_error_errno(EINVAL, "%s: same file name as %s", path, o->files[j]);
                _cleanup_free_ char *v = NULL;
                int r = name_version(o, name, &v);
                if (r < 0)
                        return r;
                if (!v) {
                        _cleanup_free_ char *pl = NULL;
                        if (patterns_list(o, &pl) < 0)
                                return -ENOMEM;
                        return log_error_errno(EINVAL, "%s: file name matches none of the patterns: %s", path, pl);
                }
                if (version && !streq(version, v))
                        return log_error_errno(EINVAL, "%s: version %s, but %s has version %s (publish one version at a time)",
                                               path, v, version_file, version);
                if (!version) {
                        version = TAKE_PTR(v);
                        version_file = path;
                }
        }
        *ret_version = TAKE_PTR(version);
        return 0;
}

static bool transfer_has_payload(const struct publish_transfer *t, const char *name, const char *version) {
        struct instance_metadata m;
        instance_metadata_init(&m);
        bool yes = pattern_match_many(t->patterns, t->n_patterns, name, &m) == PATTERN_YES &&
                   streq_ptr(m.version, version);
        instance_metadata_done(&m);
        return yes;
}

/* Devices install a version only when every transfer has its payload: a version lacking one
 * would be listed but never offered (spec sysupdate.md 6.1, incomplete update sets). */
static int check_complete(const struct publish_options *o, const struct dir_files *l, const char *version) {
        for (size_t i = 0; i < o->n_transfers; i++) {
                const struct publish_transfer *t = &o->transfers[i];
                bool found = false;
                for (size_t j = 0; j < o->n_files && !found; j++)
                        found = transfer_has_payload(t, path_basename(o->files[j]), version);
                for (size_t j = 0; j < l->n && !found; j++)
                        found = !l->files[j].removed && transfer_has_payload(t, l->files[j].name, version);
                if (!found) {
                        _cleanup_free_ char *pl = NULL;
                        struct publish_options one = { .patterns = t->patterns, .n_patterns = t->n_patterns };
                        if (patterns_list(&one, &pl) < 0)
                                return -ENOMEM;
                        return log_error_errno(EINVAL, "version %s has no payload for transfer %s (MatchPattern=%s); "
                                               "publish all of a version's files at once", version, t->name, pl);
                }
        }
        return 0;
}

static int dir_files_load(const struct publish_options *o, int dir_fd, struct dir_files *ret) {
        int fd = dup(dir_fd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                int r = -errno;
                if (fd >= 0)
                        close(fd);
                return log_error_errno(r, "%s: cannot read directory: %s", o->dir, strerror(-r));
        }
        rewinddir(d);
        int r = 0;
        struct dirent *de;
        /* errno is reset before every readdir(): the loop body logs and unlinks, which may set it. */
        while ((errno = 0, de = readdir(d))) {
                if (de->d_name[0] == '.' && (!de->d_name[1] || streq(de->d_name, "..")))
                        continue;
                if (is_leftover_temp(de->d_name)) {
                        /* We hold the lock, so no publish is writing it: a crash left it. */
                        if (unlinkat(dir_fd, de->d_name, 0) == 0)
                                log_notice("%s/%s: removed leftover temporary file", o->dir, de->d_name);
                        continue;
                }
                if (name_is_reserved(de->d_name))
                        continue;
                const char *why = manifest_name_check(de->d_name);
                if (why) {
                        _cleanup_free_ char *shown = printable(de->d_name);
                        log_warning("%s/%s: not listed in SHA256SUMS: %s", o->dir, shown ? shown : "?", why);
                        continue;
                }
                struct stat st;
                if (fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                struct dir_file *f = realloc(ret->files, (ret->n + 1) * sizeof(*f));
                if (!f) {
                        r = -ENOMEM;
                        break;
                }
                ret->files = f;
                f = &ret->files[ret->n];
                *f = (struct dir_file) { .name = strdup(de->d_name) };
                if (!f->name) {
                        r = -ENOMEM;
                        break;
                }
                ret->n++;
                r = name_version(o, f->name, &f->version);
                if (r < 0)
                        break;
                errno = 0;
        }
        if (r == 0 && errno > 0)
                r = -errno;
        closedir(d);
        if (r < 0 && r != -ENOMEM)
                return log_error_errno(r, "%s: cannot read directory: %s", o->dir, strerror(-r));
        return r;
}

static int version_cmp_desc(const void *a, const void *b) {
        return version_compare(*(char *const *) b, *(char *const *) a);
}

/* Marks the files of the versions that keep drops. The whole final set is known before
 * anything is written. */
static int plan_keep(const struct publish_options *o, const char *version, struct dir_files *l,
                     struct publish_result *res) {
        if (o->keep == 0)
                return 0;
        _cleanup_strv_free_ char **versions = NULL;
        if (strv_extend(&versions, version) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++) {
                if (!l->files[i].version)
                        continue;
                bool seen = false;
                for (char **v = versions; *v && !seen; v++)
                        seen = version_compare(*v, l->files[i].version) == 0;
                if (!seen && strv_extend(&versions, l->files[i].version) < 0)
                        return -ENOMEM;
        }
        size_t n = strv_length(versions);
        if (n <= o->keep)
                return 0;
        qsort(versions, n, sizeof(char *), version_cmp_desc);
        for (size_t k = o->keep; k < n; k++) {
                if (version_compare(versions[k], version) == 0)
                        return log_error_errno(EINVAL, "%s: version %s would not be among the %" PRIu64
                                               " newest versions, --keep=%" PRIu64 " would remove it right away",
                                               o->dir, version, o->keep, o->keep);
                if (strv_extend(&res->dropped_versions, versions[k]) < 0)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < l->n; i++) {
                struct dir_file *f = &l->files[i];
                if (!f->version || f->replaced)
                        continue;
                for (char **v = res->dropped_versions; *v; v++)
                        if (version_compare(*v, f->version) == 0) {
                                f->removed = true;
                                if (strv_extend(&res->removed, f->name) < 0)
                                        return -ENOMEM;
                                break;
                        }
        }
        return 0;
}

static int fsync_dir(int dir_fd, const char *dir) {
        if (fsync(dir_fd) < 0) {
                int r = -errno;
                return log_error_errno(r, "%s: fsync failed: %s", dir, strerror(-r));
        }
        return 0;
}

/* Writes entries as SHA256SUMS (+ .gpg), both under temporary names first, then renames. */
static int manifest_publish(const struct publish_options *o, struct temp_files *t, const struct manifest_entry *entries,
                            size_t n) {
        _cleanup_free_ char *tmp = NULL, *sig_tmp = NULL;
        int fd = temp_file_create(t, o->dir, MANIFEST_NAME, &tmp);
        if (fd < 0)
                return fd;
        _cleanup_free_ char *tmp_path = path_join(o->dir, tmp);
        FILE *f = fdopen(fd, "w");
        if (!f || !tmp_path) {
                close(fd);
                return -ENOMEM;
        }
        int r = manifest_write(f, entries, n);
        if (r >= 0 && fsync(fileno(f)) < 0)
                r = -errno;
        if (fclose(f) != 0 && r >= 0)
                r = -errno;
        if (r == -EINVAL)
                return r; /* a name the manifest cannot carry: logged by manifest_write() */
        if (r < 0)
                return log_error_errno(r, "%s: cannot write: %s", tmp_path, strerror(-r));

        if (o->sign) {
                int sfd = temp_file_create(t, o->dir, SIGNATURE_NAME, &sig_tmp);
                if (sfd < 0)
                        return sfd;
                close(sfd);
                _cleanup_free_ char *sig_path = path_join(o->dir, sig_tmp);
                if (!sig_path)
                        return -ENOMEM;
                r = gpg_sign_detached(o->gpg_homedir, o->gpg_key, tmp_path, sig_path);
                if (r < 0)
                        return r;
                _cleanup_close_ int s = openat(t->dir_fd, sig_tmp, O_RDONLY | O_CLOEXEC);
                if (s < 0 || fsync(s) < 0 || fchmod(s, 0644) < 0) {
                        r = -errno;
                        return log_error_errno(r, "%s: cannot sync signature: %s", sig_path, strerror(-r));
                }
        }

        r = rename_into_place(t, o->dir, tmp, MANIFEST_NAME);
        if (r < 0)
                return r;
        if (sig_tmp)
                return rename_into_place(t, o->dir, sig_tmp, SIGNATURE_NAME);
        /* An old signature does not match the new manifest: clients that verify would refuse
         * every update from now on, and a missing one says so more clearly. */
        if (unlinkat(t->dir_fd, SIGNATURE_NAME, 0) == 0)
                log_warning("%s/%s: removed, it does not sign the new manifest (use --sign=gpg)", o->dir,
                            SIGNATURE_NAME);
        else if (errno != ENOENT) {
                r = -errno;
                return log_error_errno(r, "%s/%s: cannot remove stale signature: %s", o->dir, SIGNATURE_NAME,
                                       strerror(-r));
        }
        return 0;
}

static void manifest_entries_free(struct manifest_entry *e, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(e[i].name);
        free(e);
}

/* Versions are immutable for clients: a device that installed a version never fetches it again,
 * so different bits under a published name would silently split the fleet. Identical content
 * (a repeated publish) is fine. */
static int check_replaced(const struct publish_options *o, int dir_fd, const struct dir_files *l,
                          const struct manifest_entry *added, size_t n_added) {
        for (size_t i = 0; i < l->n; i++) {
                if (!l->files[i].replaced)
                        continue;
                for (size_t j = 0; j < n_added; j++) {
                        if (!streq(added[j].name, l->files[i].name))
                                continue;
                        uint8_t old[32];
                        int r = hash_file_at(dir_fd, o->dir, l->files[i].name, old);
                        if (r < 0)
                                return r;
                        if (memcmp(old, added[j].sha256, 32) != 0)
                                return log_error_errno(EEXIST, "%s/%s: already published with different content "
                                                       "(publish a new version, or use --force)",
                                                       o->dir, added[j].name);
                }
        }
        return 0;
}

/* Patches whose base or target version is gone go with it, block indexes with their payload. So
 * do those whose target is published again, unless publish_deltas() or publish_blocks() makes one
 * of the same name again. */
static int plan_patches(const struct publish_options *o, struct dir_files *l, struct publish_result *res) {
        for (size_t i = 0; i < l->n; i++) {
                struct dir_file *f = &l->files[i];
                _cleanup_free_ char *base = NULL;
                const char *target = NULL;
                if (f->replaced || f->removed)
                        continue;
                if (patch_name_parse(f->name, &base, &target) < 0 && !(target = block_index_target(f->name)))
                        continue;
                bool base_there = !base, target_there = false;
                for (size_t j = 0; j < l->n; j++) {
                        const struct dir_file *g = &l->files[j];
                        if (g->removed || !g->version)
                                continue;
                        base_there = base_there || version_compare(g->version, base) == 0;
                        target_there = target_there || streq(g->name, target);
                }
                for (size_t j = 0; j < o->n_files; j++)
                        if (streq(path_basename(o->files[j]), target))
                                target_there = false;
                if (base_there && target_there)
                        continue;
                f->removed = true;
                if (strv_extend(&res->removed, f->name) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* The files of l that stay and have a version: names[] and versions[] alike (borrowed), *ret_n. */
static int kept_versions(const struct dir_files *l, char ***ret_names, char ***ret_versions, size_t *ret_n) {
        char **names = calloc(l->n + 1, sizeof(char *)), **versions = calloc(l->n + 1, sizeof(char *));
        size_t n = 0;
        if (!names || !versions) {
                free(names);
                free(versions);
                return -ENOMEM;
        }
        for (size_t i = 0; i < l->n; i++)
                if (!l->files[i].removed && !l->files[i].replaced && l->files[i].version) {
                        names[n] = l->files[i].name;
                        versions[n++] = l->files[i].version;
                }
        *ret_names = names;
        *ret_versions = versions;
        *ret_n = n;
        return 0;
}

/* --deltas: a patch from each of the newest older versions to every new payload (tmps[i] is its
 * compressed file, not renamed yet), listed under names no pattern matches. A patch is in place
 * before its target: no manifest names it yet, and the next publish drops it if its target or
 * base never came. */
static int publish_deltas(const struct publish_options *o, struct temp_files *t, const struct dir_files *l,
                          const char *version, char *const *tmps, struct manifest_entry *entries,
                          size_t *n_entries, struct publish_result *res) {
        _cleanup_free_ char **names = NULL, **versions = NULL;
        size_t n = 0;
        if (kept_versions(l, &names, &versions, &n) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < o->n_files && o->deltas > 0; i++) {
                const char *name = path_basename(o->files[i]);
                _cleanup_free_ ssize_t *bases = NULL;
                int r = delta_pick_bases(o->patterns, o->n_patterns, o->deltas, version, name, names, versions, n, &bases);
                for (ssize_t *b = bases; r >= 0 && *b >= 0; b++) {
                        _cleanup_free_ char *pname = patch_name(versions[*b], name), *tmp = NULL, *tmp_path = NULL;
                        uint64_t size = 0;
                        struct stat full;
                        if (!pname)
                                return -ENOMEM;
                        int fd = temp_file_create(t, o->dir, pname, &tmp);
                        if (fd < 0)
                                return fd;
                        tmp_path = path_join(o->dir, tmp);
                        r = tmp_path ? delta_write(t->dir_fd, o->dir, names[*b], o->files[i], fd, tmp_path,
                                                   entries[*n_entries].sha256, &size) : -ENOMEM;
                        close(fd);
                        if (r == -EOPNOTSUPP) {
                                r = 0;
                                continue;
                        }
                        if (r < 0)
                                return r;
                        if (fstatat(t->dir_fd, tmps[i], &full, 0) == 0 && size >= (uint64_t) full.st_size) {
                                log_info("%s: a patch from version %s is not smaller than the payload, not published",
                                         name, versions[*b]);
                                continue;
                        }
                        r = rename_into_place(t, o->dir, tmp, pname);
                        if (r < 0 || strv_extend(&res->added, pname) < 0)
                                return r < 0 ? r : -ENOMEM;
                        strv_remove(res->removed, pname); /* made again: it stays */
                        entries[(*n_entries)++].name = TAKE_PTR(pname);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Payloads of partition transfers only, when the definitions tell which transfer a payload is for;
 * without them, every payload when asked for. */
static bool payload_wants_blocks(const struct publish_options *o, const char *name, const char *version) {
        if (o->blocks == 0 || !o->transfers)
                return o->blocks > 0;
        for (size_t i = 0; i < o->n_transfers; i++)
                if (o->transfers[i].partition && transfer_has_payload(&o->transfers[i], name, version))
                        return true;
        return false;
}

/* For every new payload (of a partition transfer, when the definitions tell): "@blocks@NAME" and
 * then "@index@NAME" (publish-blocks.h) under temporary names, renamed into place (no manifest
 * names them yet; the next publish drops them if their payload never came), listed in entries.
 * A name made again is taken off res->removed. */
static int publish_blocks(const struct publish_options *o, struct temp_files *t, const struct dir_files *l,
                          struct manifest_entry *entries, size_t *n_entries, struct publish_result *res) {
        int level = o->compression == COMPRESSION_ZSTD && o->level > 0 ? o->level : 19;
        _cleanup_free_ char **names = NULL, **versions = NULL;
        size_t n = 0;
        if (kept_versions(l, &names, &versions, &n) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < o->n_files; i++) {
                const char *name = path_basename(o->files[i]);
                if (!payload_wants_blocks(o, name, res->version))
                        continue;
                /* the index of the version before: its devices fetch the blocks it does not list */
                _cleanup_free_ ssize_t *bases = NULL;
                struct block_index *older = NULL;
                int r = delta_pick_bases(o->patterns, o->n_patterns, 1, res->version, name, names, versions, n, &bases);
                if (r < 0)
                        return r;
                _cleanup_free_ char *iname = block_index_name(name), *dname = block_data_name(name);
                _cleanup_free_ char *itmp = NULL, *dtmp = NULL, *ipath = NULL, *dpath = NULL;
                if (!iname || !dname)
                        return -ENOMEM;
                int ifd = temp_file_create(t, o->dir, iname, &itmp);
                if (ifd < 0)
                        return ifd;
                int dfd = temp_file_create(t, o->dir, dname, &dtmp);
                if (dfd < 0) {
                        close(ifd);
                        return dfd;
                }
                ipath = path_join(o->dir, itmp);
                dpath = path_join(o->dir, dtmp);
                r = ipath && dpath ? 0 : -ENOMEM;
                if (r >= 0 && bases[0] >= 0)
                        r = publish_blocks_older(t->dir_fd, names[bases[0]], &older);
                if (r >= 0)
                        r = publish_blocks_write(o->files[i], level, older, ifd, ipath, dfd, dpath,
                                                 entries[*n_entries].sha256, entries[*n_entries + 1].sha256);
                block_index_free(older);
                close(ifd);
                close(dfd);
                if (r == -EOPNOTSUPP)
                        continue;
                if (r >= 0)
                        r = rename_into_place(t, o->dir, dtmp, dname);
                if (r >= 0)
                        r = rename_into_place(t, o->dir, itmp, iname);
                if (r >= 0 && (strv_extend(&res->added, dname) < 0 || strv_extend(&res->added, iname) < 0))
                        r = -ENOMEM;
                if (r < 0)
                        return r;
                strv_remove(res->removed, dname);
                strv_remove(res->removed, iname);
                entries[(*n_entries)++].name = TAKE_PTR(iname);
                entries[(*n_entries)++].name = TAKE_PTR(dname);
        }
        return 0;
}

static int publish_files(const struct publish_options *o, int dir_fd, struct dir_files *l, struct publish_result *res) {
        struct temp_files t = { .dir_fd = dir_fd };
        size_t n_entries = 0, cap = l->n + o->n_files * (3 + o->deltas) + 1;
        struct manifest_entry *entries = calloc(cap, sizeof(*entries));
        if (!entries)
                return -ENOMEM;
        int r = 0;

        if (o->best_before) {
                r = manifest_best_before_entry(o->best_before, &entries[n_entries]);
                if (r == -EINVAL)
                        r = log_error_errno(r, "best-before date '%s': expected YYYY-MM-DD", o->best_before);
                else if (r >= 0)
                        n_entries++;
        }

        /* Read-only work first: hashes of the files that stay. */
        for (size_t i = 0; i < l->n && r >= 0; i++) {
                struct dir_file *f = &l->files[i];
                if (f->replaced || f->removed)
                        continue;
                entries[n_entries].name = strdup(f->name);
                if (!entries[n_entries].name)
                        r = -ENOMEM;
                else
                        r = hash_file_at(dir_fd, o->dir, f->name, entries[n_entries++].sha256);
        }

        /* Payloads: all under temporary names (fsynced) first, then renamed, so that a failure
         * or a refused replacement publishes none of them. */
        _cleanup_strv_free_ char **tmps = NULL;
        size_t first_new = n_entries;
        for (size_t i = 0; i < o->n_files && r >= 0; i++) {
                char *tmp = NULL;
                int fd = temp_file_create(&t, o->dir, path_basename(o->files[i]), &tmp);
                if (fd < 0) {
                        r = fd;
                        break;
                }
                r = strv_push(&tmps, tmp);
                _cleanup_free_ char *tmp_path = path_join(o->dir, tmp);
                entries[n_entries].name = strdup(path_basename(o->files[i]));
                if (r < 0 || !tmp_path || !entries[n_entries].name)
                        r = -ENOMEM;
                else
                        r = payload_write(o->files[i], fd, tmp_path, o, entries[n_entries].sha256);
                if (entries[n_entries].name)
                        n_entries++;
                close(fd);
        }
        if (r >= 0 && !o->force)
                r = check_replaced(o, dir_fd, l, entries + first_new, n_entries - first_new);
        if (r >= 0)
                r = publish_deltas(o, &t, l, res->version, tmps, entries, &n_entries, res);
        if (r >= 0)
                r = publish_blocks(o, &t, l, entries, &n_entries, res);
        for (size_t i = 0; i < o->n_files && r >= 0; i++) {
                r = rename_into_place(&t, o->dir, tmps[i], entries[first_new + i].name);
                if (r >= 0)
                        r = strv_extend(&res->added, entries[first_new + i].name);
        }
        if (r >= 0)
                r = fsync_dir(dir_fd, o->dir);

        if (r >= 0)
                r = manifest_publish(o, &t, entries, n_entries);
        if (r >= 0)
                r = fsync_dir(dir_fd, o->dir);
        temp_files_cleanup(&t);
        manifest_entries_free(entries, n_entries);
        if (r < 0)
                return r;
        res->n_listed = n_entries - (o->best_before ? 1 : 0);
        res->signed_ = o->sign;

        /* Only now does no manifest name the old payloads any more. */
        for (char **n = res->removed; n && *n; n++)
                if (unlinkat(dir_fd, *n, 0) < 0 && errno != ENOENT) {
                        r = -errno;
                        return log_error_errno(r, "%s/%s: cannot remove: %s", o->dir, *n, strerror(-r));
                }
        return fsync_dir(dir_fd, o->dir);
}

int publish(const struct publish_options *o, struct publish_result *ret) {
        struct publish_result res = {};
        struct dir_files l = {};
        int r;

        if (o->n_patterns == 0)
                return log_error_errno(EINVAL, "no patterns to recognise versions by (use --pattern= or --definitions=)");
        for (size_t i = 0; i < o->n_patterns; i++)
                if (pattern_has_slash(o->patterns[i]))
                        return log_error_errno(EINVAL, "pattern %s: subdirectories are not supported by publish",
                                               pattern_string(o->patterns[i]));
        if (o->n_files == 0)
                return log_error_errno(EINVAL, "no files to publish");

        _cleanup_close_ int dir_fd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) {
                r = -errno;
                return log_error_errno(r, "%s: cannot open directory: %s", o->dir, strerror(-r));
        }
        /* Two publishers at once would each write a manifest missing the other's files. */
        if (flock(dir_fd, LOCK_EX | LOCK_NB) < 0) {
                r = -errno;
                return log_error_errno(r, "%s: %s", o->dir,
                                       r == -EWOULDBLOCK ? "another publish is running on this directory" : strerror(-r));
        }

        if (!o->sign && !o->unsign && faccessat(dir_fd, SIGNATURE_NAME, F_OK, AT_SYMLINK_NOFOLLOW) >= 0)
                return log_error_errno(EPERM, "%s: SHA256SUMS is signed; without --sign=gpg the signature would be "
                                       "removed and Verify=yes devices would stop updating (give --sign=gpg, or "
                                       "--sign=no to drop it)", o->dir);
        r = check_payloads(o, &res.version);
        if (r >= 0)
                r = dir_files_load(o, dir_fd, &l);
        if (r >= 0)
                r = check_complete(o, &l, res.version);
        for (size_t i = 0; i < l.n && r >= 0; i++)
                for (size_t j = 0; j < o->n_files; j++)
                        if (streq(l.files[i].name, path_basename(o->files[j])))
                                l.files[i].replaced = true;
        if (r >= 0)
                r = plan_keep(o, res.version, &l, &res);
        if (r >= 0)
                r = plan_patches(o, &l, &res);
        if (r >= 0)
                r = publish_files(o, dir_fd, &l, &res);
        dir_files_done(&l);
        if (r < 0) {
                publish_result_done(&res);
                return r;
        }
        *ret = res;
        return 0;
}
