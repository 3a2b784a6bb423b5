/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "resume-state.h"

#include "commit.h"
#include "base/log.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "abota-resume 1\n"
#define STATE_MAX 8192
#define RECORD_SIZE 1024U

void resume_state_done(struct resume_state *s) {
        free(s->transfer);
        free(s->version);
        free(s->target);
        *s = (struct resume_state) {};
}

char *resume_state_path(const char *dir, const char *transfer) {
        _cleanup_free_ char *name = strprintf("%s.state", transfer);
        if (!name)
                return NULL;
        for (char *p = name; *p; p++)
                if (*p == '/' || *p == '\n')
                        *p = '_';
        return path_join(dir, name);
}

char *resume_spool_path(const char *state_path) {
        size_t n = strlen(state_path);
        if (endswith(state_path, ".state"))
                n -= strlen(".state");
        return strprintf("%.*s.part", (int) n, state_path);
}

int resume_state_dir(const char *root, const char *image, char **ret) {
        *ret = root ? path_join(root, RESUME_STATE_DIR) : !image ? strdup(RESUME_STATE_DIR) : NULL;
        return (root || !image) && !*ret ? -ENOMEM : 0;
}

void resume_dir_cleanup(const char *dir) {
        DIR *d _cleanup_(closedirp) = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (!endswith(de->d_name, ".part"))
                        continue;
                _cleanup_free_ char *spool = path_join(dir, de->d_name);
                _cleanup_free_ char *state = spool ? strprintf("%.*s.state", (int) (strlen(spool) - 5), spool) : NULL;
                if (!state || access(state, F_OK) == 0 || errno != ENOENT)
                        continue;
                if (unlink(spool) < 0)
                        log_warning("%s: cannot remove the spool of a download no longer resumed: %s", spool,
                                    strerror(errno));
                else
                        log_info("%s: removed the spool of a download no longer resumed", spool);
        }
}

const char *resume_state_file(const struct resume_state *s) {
        return startswith(s->target, "file ");
}

char *resume_state_kept_file(const char *dir, const char *transfer) {
        _cleanup_free_ char *state = dir ? resume_state_path(dir, transfer) : NULL;
        struct resume_state s = {};
        char *keep = NULL;
        if (state && resume_state_load(state, &s) > 0 && streq(s.transfer, transfer) && resume_state_file(&s))
                keep = strdup(resume_state_file(&s));
        resume_state_done(&s);
        return keep;
}

static void checksum(const char *p, size_t n, char ret[65]) {
        uint8_t d[32] = {};
        unsigned len = 0;
        (void) EVP_Digest(p, n, d, &len, EVP_sha256(), NULL);
        hex_format(d, 32, ret);
}

/* The value of "key=" on a line of its own in text (a copy), or NULL. */
static char *field(const char *text, const char *key) {
        size_t kl = strlen(key);
        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, key, kl) == 0 && l[kl] == '=') {
                        const char *v = l + kl + 1;
                        return strndup(v, strcspn(v, "\n"));
                }
        return NULL;
}

static int unusable(const char *path, const char *why) {
        log_debug("%s: ignoring the resume state: %s", path, why);
        return 0;
}

int resume_state_load(const char *path, struct resume_state *ret) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        int r = read_full_file(path, STATE_MAX, &text, &size);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return r == -ENOENT ? 0 : unusable(path, strerror(-r));
        size = strlen(text); /* without the padding */
        /* The last line is "check=HEX" over everything before it. */
        char *c = size > 0 && text[size - 1] == '\n' ? strstr(text, "\ncheck=") : NULL;
        char sum[65];
        if (!startswith(text, MAGIC) || !c || strlen(c) != strlen("\ncheck=") + 64 + 1)
                return unusable(path, "not a resume state");
        checksum(text, (size_t) (c + 1 - text), sum);
        if (strncmp(c + strlen("\ncheck="), sum, 64) != 0)
                return unusable(path, "damaged (checksum)");
        c[1] = 0;

        _cleanup_free_ char *payload = field(text, "payload-sha256"), *prefix = field(text, "prefix-sha256"),
                            *done = field(text, "done"), *complete = field(text, "complete"),
                            *spool = field(text, "spool");
        struct resume_state s = {
                .transfer = field(text, "transfer"), .version = field(text, "version"), .target = field(text, "target"),
        };
        if (!s.transfer || !s.version || !s.target || !payload || !prefix || !done || !complete ||
            hex_parse(payload, 32, s.payload_sha256) < 0 || hex_parse(prefix, 32, s.prefix_sha256) < 0 ||
            parse_uint64(done, 10, &s.done) < 0 || parse_boolean(complete) < 0 ||
            (spool && parse_boolean(spool) < 0)) {
                resume_state_done(&s);
                return unusable(path, "a field is missing or invalid");
        }
        s.complete = parse_boolean(complete) > 0;
        s.spool = spool && parse_boolean(spool) > 0; /* absent in the states of earlier versions */
        *ret = s;
        return 1;
}

int resume_state_save(const char *path, const struct resume_state *s) {
        char payload[65], prefix[65], sum[65];
        if (strchr(s->transfer, '\n') || strchr(s->version, '\n') || strchr(s->target, '\n'))
                return -EINVAL;
        hex_format(s->payload_sha256, 32, payload);
        hex_format(s->prefix_sha256, 32, prefix);
        _cleanup_free_ char *body = strprintf(MAGIC "transfer=%s\nversion=%s\npayload-sha256=%s\ntarget=%s\n"
                                              "done=%" PRIu64 "\nprefix-sha256=%s\ncomplete=%s\nspool=%s\n",
                                              s->transfer, s->version, payload, s->target, s->done, prefix,
                                              s->complete ? "yes" : "no", s->spool ? "yes" : "no");
        if (!body)
                return -ENOMEM;
        checksum(body, strlen(body), sum);
        _cleanup_free_ char *text = strprintf("%scheck=%s\n", body, sum);
        if (!text)
                return -ENOMEM;
        /* A record of fixed size, padded with NULs: rewriting it in place changes no metadata. */
        size_t n = strlen(text) < RECORD_SIZE ? RECORD_SIZE : strlen(text);
        _cleanup_free_ char *record = calloc(1, n);
        if (!record)
                return -ENOMEM;
        memcpy(record, text, strlen(text));

        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        bool created = false;
        if (fd < 0 && errno == ENOENT) {
                _cleanup_free_ char *dir = NULL;
                int r = path_dirname(path, &dir);
                if (r >= 0)
                        r = mkdir_all(dir, 0700);
                if (r < 0)
                        return r;
                fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                created = true;
        }
        if (fd < 0)
                return -errno;
        int r = pwrite_full(fd, record, n, 0);
        if (r >= 0 && fdatasync(fd) < 0)
                r = -errno;
        if (r >= 0 && created)
                r = commit_sync_directory_of(path);
        return r;
}

int resume_state_remove(const char *path) {
        /* The state first: a spool without one is an orphan that resume_dir_cleanup() removes. */
        _cleanup_free_ char *spool = resume_spool_path(path);
        if (!spool)
                return -ENOMEM;
        bool removed = unlink(path) >= 0;
        if (!removed && errno != ENOENT)
                return -errno;
        if (unlink(spool) >= 0)
                removed = true;
        else if (errno != ENOENT)
                return -errno;
        return removed ? commit_sync_directory_of(path) : 0;
}
