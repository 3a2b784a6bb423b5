/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gpg.h"

#include "chase.h"

#include "log.h"
#include "spawn.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int gpg_find_keyring(const char *root, char **ret) {
        /* /etc overrides the vendor keyring; the /etc .gpg name is the legacy spelling, and the
         * /usr/lib .gpg name is what images built for systemd <= v257 still ship. */
        static const char *const candidates[] = {
                "/etc/systemd/import-pubring.pgp",
                "/etc/systemd/import-pubring.gpg",
                "/usr/lib/systemd/import-pubring.pgp",
                "/usr/lib/systemd/import-pubring.gpg",
        };
        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                _cleanup_free_ char *p = NULL;
                int r = chase(root, candidates[i], CHASE_NONEXISTENT, &p);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue; /* a link loop or an unreadable directory: not a keyring */
                struct stat st;
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
        }
        return -ENOENT;
}

static int write_file_at(int dir_fd, const char *name, const char *data, size_t size) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        while (size > 0) {
                ssize_t k = write(fd, data, size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                data += k;
                size -= (size_t) k;
        }
        return 0;
}

/* Removes the scratch directory and whatever gpgv left in it (it is flat). */
static void scratch_dir_remove(char **dir) {
        if (!*dir)
                return;
        DIR *d = opendir(*dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d)))
                        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                                (void) unlinkat(dirfd(d), de->d_name, 0);
                closedir(d);
        }
        (void) rmdir(*dir);
        free(*dir);
        *dir = NULL;
}

static const char *tmp_dir(void) {
        const char *t = getenv("TMPDIR");
        return t && path_is_absolute(t) ? t : "/tmp";
}

static int bad_signature(char **ret_reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad_signature(char **ret_reason, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(ret_reason, fmt, ap);
        va_end(ap);
        if (r < 0) {
                *ret_reason = NULL;
                return -ENOMEM;
        }
        return -EBADMSG;
}

int gpg_verify(const char *keyring, const char *data, size_t size, const char *sig, size_t sig_size,
               const char *url) {
        _cleanup_free_ char *reason = NULL;
        int r = gpg_check(keyring, data, size, sig, sig_size, url, &reason);
        if (r == -EBADMSG)
                return log_error_errno(EBADMSG, "%s", reason);
        return r;
}

int gpg_check(const char *keyring, const char *data, size_t size, const char *sig, size_t sig_size,
              const char *url, char **ret_reason) {
        *ret_reason = NULL;
        if (!sig || sig_size == 0)
                return bad_signature(ret_reason, "%s: signature verification failed: no signature", url);

        _cleanup_free_ char *gpgv = NULL;
        int r = find_executable("gpgv", &gpgv);
        if (r == -ENOENT)
                return log_error_errno(ENOENT, "%s: gpgv not found on PATH (install the gpgv package)", url);
        if (r < 0)
                return log_error_errno(r, "%s: cannot look for gpgv: %s", url, strerror(-r));

        /* gpgv takes a keyring name without '/' as relative to its home directory. */
        char keyring_abs[PATH_MAX];
        if (!realpath(keyring, keyring_abs)) {
                r = -errno;
                return log_error_errno(r, "%s: cannot verify signature: keyring %s: %s", url, keyring,
                                       strerror(-r));
        }

        /* A private, empty home directory: the verdict depends on the keyring alone, never on the
         * invoking user's trust database. */
        _cleanup_(scratch_dir_remove) char *dir = strprintf("%s/abota-gpgv-XXXXXX", tmp_dir());
        if (!dir)
                return -ENOMEM;
        if (!mkdtemp(dir)) {
                r = -errno;
                free(dir);
                dir = NULL;
                return log_error_errno(r, "%s: cannot create a temporary directory in %s: %s", url, tmp_dir(),
                                       strerror(-r));
        }
        _cleanup_close_ int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                r = -errno;
        else {
                r = write_file_at(dir_fd, "data", data, size);
                if (r >= 0)
                        r = write_file_at(dir_fd, "data.sig", sig, sig_size);
        }
        if (r < 0)
                return log_error_errno(r, "%s: cannot write temporary files in %s: %s", url, dir, strerror(-r));

        _cleanup_free_ char *sig_path = path_join(dir, "data.sig"), *data_path = path_join(dir, "data");
        if (!sig_path || !data_path)
                return -ENOMEM;
        char *argv[] = { gpgv, (char *) "--homedir", dir, (char *) "--keyring", keyring_abs, sig_path,
                         data_path, NULL };
        _cleanup_free_ char *output = NULL;
        r = spawn_capture(argv, &output);
        if (r < 0)
                return log_error_errno(r, "%s: cannot run %s: %s", url, gpgv, strerror(-r));
        if (r == 0)
                return 0;
        static const char *const needles[] = { "BAD signature", "Can't check signature", "no valid OpenPGP data",
                                               "premature eof", "invalid packet", "could not be verified",
                                               NULL };
        _cleanup_free_ char *reason = spawn_output_reason(output, "gpgv", needles);
        return bad_signature(ret_reason, "%s: signature verification failed: %s (keyring %s)", url,
                             reason ? reason : "gpgv failed", keyring);
}

int gpg_sign_detached(const char *homedir, const char *key_id, const char *file, const char *sigfile) {
        _cleanup_free_ char *gpg = NULL;
        int r = find_executable("gpg", &gpg);
        if (r == -ENOENT)
                r = find_executable("gpg2", &gpg);
        if (r == -ENOENT)
                return log_error_errno(ENOENT, "%s: gpg not found on PATH (install the gpg package)", file);
        if (r < 0)
                return log_error_errno(r, "%s: cannot look for gpg: %s", file, strerror(-r));

        char *argv[12];
        size_t n = 0;
        argv[n++] = gpg;
        argv[n++] = (char *) "--batch";
        argv[n++] = (char *) "--yes";
        if (homedir) {
                argv[n++] = (char *) "--homedir";
                argv[n++] = (char *) homedir;
        }
        if (key_id) {
                argv[n++] = (char *) "--local-user";
                argv[n++] = (char *) key_id;
        }
        argv[n++] = (char *) "--detach-sign";
        argv[n++] = (char *) "--output";
        argv[n++] = (char *) sigfile;
        argv[n++] = (char *) file;
        argv[n] = NULL;

        _cleanup_free_ char *output = NULL;
        r = spawn_capture(argv, &output);
        if (r < 0)
                return log_error_errno(r, "%s: cannot run %s: %s", file, gpg, strerror(-r));
        if (r != 0) {
                static const char *const needles[] = { "skipped", "signing failed", "secret key", NULL };
                _cleanup_free_ char *reason = spawn_output_reason(output, "gpg", needles);
                return log_error_errno(EIO, "%s: signing with gpg%s%s failed: %s", file, key_id ? " key " : "",
                                       key_id ? key_id : "", reason ? reason : "gpg failed");
        }
        return 0;
}
