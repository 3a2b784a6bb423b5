/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "luks.h"

#include "token.h"
#include "tpm2.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcryptsetup.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VOLUME_KEY_SIZE 64   /* AES-256-XTS */
#define SECTOR 512
#define KEY_FILE_MAX (UINT64_C(8) * 1024 * 1024)

static void on_crypt_log(int level, const char *msg, void *userdata) {
        (void) userdata;
        size_t n = strlen(msg);
        log_debug("libcryptsetup%s: %.*s", level == CRYPT_LOG_ERROR ? " error" : "", (int) (n && msg[n - 1] == '\n' ? n - 1 : n), msg);
}

/* Every key abota puts in a key slot is random (TPM secret, recovery key) or a key file, so the
 * key slots use the minimal PBKDF2 as systemd-cryptenroll does for these: a slow KDF would only
 * slow down the boot. */
static int set_minimal_pbkdf(struct crypt_device *cd) {
        static const struct crypt_pbkdf_type minimal = {
                .type = CRYPT_KDF_PBKDF2, .hash = "sha512", .iterations = 1000,
                .flags = CRYPT_PBKDF_NO_BENCHMARK,
        };
        return crypt_set_pbkdf_type(cd, &minimal);
}

static int open_volume(const char *volume, struct crypt_device **ret) {
        crypt_set_log_callback(NULL, on_crypt_log, NULL);
        struct crypt_device *cd = NULL;
        int r = crypt_init(&cd, volume);
        if (r < 0)
                return log_error_errno(r, "%s: cannot open: %s", volume, strerror(-r));
        r = crypt_load(cd, CRYPT_LUKS2, NULL);
        if (r < 0) {
                crypt_free(cd);
                return log_error_errno(r, "%s: not a LUKS2 volume: %s", volume, strerror(-r));
        }
        *ret = cd;
        return 0;
}

/* Encrypts payload sector by sector as aes-xts-plain64 does: the IV is the sector number (from
 * the start of the data segment) as 64-bit little-endian, zero padded to 16 bytes. */
static int encrypt_payload(const char *what, int out, uint64_t off, const char *payload, uint64_t room,
                           const uint8_t key[VOLUME_KEY_SIZE]) {
        _cleanup_close_ int in = open(payload, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (in < 0 || fstat(in, &st) < 0)
                return log_error_errno(errno, "%s: %s: %s", what, payload, strerror(errno));
        if ((uint64_t) st.st_size > room)
                return log_error_errno(EFBIG, "%s: %s does not fit into the encrypted volume", what, payload);
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_xts(), NULL, key, NULL) != 1) {
                EVP_CIPHER_CTX_free(ctx);
                return log_error_errno(EIO, "%s: AES-XTS is not available", what);
        }
        enum { CHUNK = 1024 * 1024 };
        _cleanup_free_ uint8_t *buf = malloc(2 * CHUNK);
        int r = buf ? 0 : -ENOMEM;
        uint64_t sector = 0;
        for (uint64_t done = 0; r >= 0 && done < (uint64_t) st.st_size;) {
                ssize_t n = pread(in, buf, CHUNK, (off_t) done);
                if (n <= 0) {
                        r = log_error_errno(n < 0 ? errno : EIO, "%s: cannot read %s", what, payload);
                        break;
                }
                size_t len = ((size_t) n + SECTOR - 1) / SECTOR * SECTOR;
                memset(buf + n, 0, len - (size_t) n);
                for (size_t i = 0; i < len && r >= 0; i += SECTOR, sector++) {
                        uint8_t iv[16] = {};
                        for (int b = 0; b < 8; b++)
                                iv[b] = (uint8_t) (sector >> (8 * b));
                        int outl;
                        if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1 ||
                            EVP_EncryptUpdate(ctx, buf + CHUNK + i, &outl, buf + i, SECTOR) != 1)
                                r = log_error_errno(EIO, "%s: encryption failed", what);
                }
                if (r >= 0 && pwrite(out, buf + CHUNK, len, (off_t) (off + done)) != (ssize_t) len)
                        r = log_error_errno(errno, "%s: cannot write the encrypted volume: %s", what, strerror(errno));
                done += (uint64_t) n;
        }
        OPENSSL_cleanse(buf ? buf : (void *) &sector, buf ? 2 * CHUNK : sizeof(sector));
        EVP_CIPHER_CTX_free(ctx);
        return r;
}

static int add_tpm2(struct crypt_device *cd, const char *what, const char *device, uint32_t pcrs,
                    const char *vk, size_t vk_size) {
        struct tpm2_sealed s = {};
        _cleanup_free_ char *pass = NULL;
        int r = tpm2_seal(device, pcrs, &s, &pass);
        if (r < 0)
                return r;
        int slot = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, vk, vk_size, pass, strlen(pass));
        OPENSSL_cleanse(pass, strlen(pass));
        _cleanup_free_ char *json = slot >= 0 ? token_tpm2_format(&s, slot) : NULL;
        tpm2_sealed_done(&s);
        if (slot < 0)
                return log_error_errno(slot, "%s: cannot add the TPM2 key slot: %s", what, strerror(-slot));
        if (!json)
                return -ENOMEM;
        r = crypt_token_json_set(cd, CRYPT_ANY_TOKEN, json);
        if (r < 0)
                return log_error_errno(r, "%s: cannot add the systemd-tpm2 token: %s", what, strerror(-r));
        return 0;
}

int luks_format_image(const char *what, const char *output, uint64_t size, const char *payload,
                      const uint8_t uuid[16], const char *label, const struct luks_keys *k) {
        _cleanup_close_ int fd = open(output, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t) size) < 0)
                return log_error_errno(errno, "%s: %s: %s", what, output, strerror(errno));
        _cleanup_free_ char *key = NULL;
        size_t key_size = 0;
        if (k->key_file) {
                int r = read_full_file(k->key_file, KEY_FILE_MAX, &key, &key_size);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot read --key-file=%s: %s", what, k->key_file, strerror(-r));
        }

        crypt_set_log_callback(NULL, on_crypt_log, NULL);
        struct crypt_device *cd = NULL;
        int r = crypt_init(&cd, output);
        if (r < 0)
                return log_error_errno(r, "%s: %s: %s", what, output, strerror(-r));
        uint8_t vk[VOLUME_KEY_SIZE];
        char id[37];
        uuid_format(uuid, id);
        if (RAND_bytes(vk, sizeof(vk)) != 1)
                r = log_error_errno(EIO, "%s: no random bytes for the volume key", what);
        struct crypt_params_luks2 params = { .label = label, .sector_size = SECTOR };
        if (r >= 0 && (r = set_minimal_pbkdf(cd)) < 0)
                log_error_errno(r, "%s: cannot set the PBKDF: %s", what, strerror(-r));
        if (r >= 0 && (r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", id, (const char *) vk, sizeof(vk),
                                        &params)) < 0)
                log_error_errno(r, "%s: cannot format LUKS2: %s", what, strerror(-r));
        if (r >= 0 && crypt_get_data_offset(cd) * SECTOR != LUKS_DATA_OFFSET)
                r = log_error_errno(EINVAL, "%s: unexpected LUKS2 data offset %" PRIu64 " sectors", what,
                                    crypt_get_data_offset(cd));
        if (r >= 0 && k->key_file) {
                r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, (const char *) vk, sizeof(vk), key, key_size);
                if (r < 0)
                        log_error_errno(r, "%s: cannot add the key file's key slot: %s", what, strerror(-r));
        }
        if (r >= 0 && k->tpm2)
                r = add_tpm2(cd, what, k->tpm2_device, k->tpm2_pcrs, (const char *) vk, sizeof(vk));
        if (r >= 0 && payload)
                r = encrypt_payload(what, fd, LUKS_DATA_OFFSET, payload, size - LUKS_DATA_OFFSET, vk);
        if (r >= 0 && fsync(fd) < 0)
                r = log_error_errno(errno, "%s: %s: %s", what, output, strerror(errno));
        OPENSSL_cleanse(vk, sizeof(vk));
        if (key)
                OPENSSL_cleanse(key, key_size);
        crypt_free(cd);
        return r < 0 ? r : 0;
}

/* Tries every systemd-tpm2 token; returns the key slot opened, or the last failure. */
static int try_tpm2(struct crypt_device *cd, const char *volume, const char *name, const char *device,
                    char **ret_pass) {
        int r = -ENOENT;
        bool found = false;
        for (int t = 0; t < 32; t++) {
                const char *json;
                if (crypt_token_json_get(cd, t, &json) < 0)
                        continue;
                struct tpm2_sealed s;
                int slot, k = token_tpm2_parse(json, &s, &slot);
                if (k == -EMEDIUMTYPE)
                        continue;
                found = true;
                if (k < 0) {
                        r = log_error_errno(k, "%s: token %d: malformed systemd-tpm2 token", volume, t);
                        continue;
                }
                char *pass = NULL;
                k = tpm2_unseal(device, &s, &pass);
                tpm2_sealed_done(&s);
                if (k < 0) {
                        r = k;
                        continue;
                }
                k = crypt_activate_by_passphrase(cd, name, slot >= 0 ? slot : CRYPT_ANY_SLOT, pass, strlen(pass), 0);
                if (k >= 0 && ret_pass) {
                        *ret_pass = pass;
                        return k;
                }
                OPENSSL_cleanse(pass, strlen(pass));
                free(pass);
                if (k >= 0)
                        return k;
                r = log_error_errno(k, "%s: token %d: the unsealed key does not open key slot %d: %s", volume, t,
                                    slot, strerror(-k));
        }
        if (!found)
                return log_error_errno(ENOENT, "%s: has no systemd-tpm2 token", volume);
        return r;
}

static int try_passphrase(struct crypt_device *cd, const char *volume, const char *name, const char *what,
                          const char *pass, size_t len) {
        int r = crypt_activate_by_passphrase(cd, name, CRYPT_ANY_SLOT, pass, len, 0);
        if (r == -EPERM)
                return log_error_errno(EPERM, "%s: the %s does not open any key slot", volume, what);
        if (r < 0)
                return log_error_errno(r, "%s: cannot unlock with the %s: %s", volume, what, strerror(-r));
        return r;
}

/* Finds a passphrase that opens the volume (activating name, when not NULL) and returns it. */
static int unlock(struct crypt_device *cd, const char *volume, const char *name, const struct luks_unlock *u,
                  char **ret_pass, size_t *ret_len, const char **ret_method) {
        int r = -ENOKEY;
        if (u->key_file) {
                _cleanup_free_ char *key = NULL;
                size_t n;
                r = read_full_file(u->key_file, KEY_FILE_MAX, &key, &n);
                if (r < 0)
                        log_error_errno(r, "%s: cannot read the key file %s: %s", volume, u->key_file, strerror(-r));
                else if ((r = try_passphrase(cd, volume, name, "key file", key, n)) >= 0) {
                        *ret_method = "key file";
                        *ret_len = n;
                        *ret_pass = key;
                        key = NULL;
                        return r;
                }
        }
        if (u->recovery_key) {
                char key[RECOVERY_KEY_LENGTH + 1];
                if (recovery_key_normalize(u->recovery_key, key) < 0)
                        r = log_error_errno(EINVAL, "%s: the recovery key is not 64 modhex letters "
                                            "(cbdefghijklnrtuv, dashes allowed)", volume);
                else if ((r = try_passphrase(cd, volume, name, "recovery key", key, strlen(key))) >= 0) {
                        *ret_method = "recovery key";
                        *ret_len = strlen(key);
                        *ret_pass = strdup(key);
                        OPENSSL_cleanse(key, sizeof(key));
                        return *ret_pass ? r : -ENOMEM;
                }
        }
        if (u->tpm2) {
                char *pass = NULL;
                r = try_tpm2(cd, volume, name, u->tpm2_device, &pass);
                if (r >= 0) {
                        *ret_method = "TPM2";
                        *ret_len = strlen(pass);
                        *ret_pass = pass;
                        return r;
                }
        }
        if (r == -ENOKEY)
                log_error("%s: no way to unlock given (key file, recovery key or TPM2)", volume);
        return r;
}

int luks_unlock(const char *volume, const char *name, const struct luks_unlock *u, int *ret_keyslot,
                const char **ret_method) {
        struct crypt_device *cd = NULL;
        int r = open_volume(volume, &cd);
        if (r < 0)
                return r;
        char *pass = NULL;
        size_t len = 0;
        r = unlock(cd, volume, name, u, &pass, &len, ret_method);
        if (pass) {
                OPENSSL_cleanse(pass, len);
                free(pass);
        }
        crypt_free(cd);
        if (r < 0)
                return r;
        *ret_keyslot = r;
        return 0;
}

int luks_enroll(const char *volume, const struct luks_unlock *u, const struct luks_enroll *e,
                char ret_recovery_key[static RECOVERY_KEY_LENGTH + 1]) {
        struct crypt_device *cd = NULL;
        int r = open_volume(volume, &cd);
        if (r < 0)
                return r;
        char *pass = NULL, vk[VOLUME_KEY_SIZE * 2];
        size_t len = 0, vk_size = sizeof(vk);
        const char *method;
        r = unlock(cd, volume, NULL, u, &pass, &len, &method);
        if (r >= 0 && (r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, vk, &vk_size, pass, len)) < 0)
                log_error_errno(r, "%s: cannot read the volume key: %s", volume, strerror(-r));
        if (pass) {
                OPENSSL_cleanse(pass, len);
                free(pass);
        }
        if (r >= 0 && (r = set_minimal_pbkdf(cd)) < 0)
                log_error_errno(r, "%s: cannot set the PBKDF: %s", volume, strerror(-r));
        if (r >= 0 && e->tpm2)
                r = add_tpm2(cd, volume, e->tpm2_device, e->tpm2_pcrs, vk, vk_size);
        if (r >= 0 && e->recovery_key) {
                r = recovery_key_generate(ret_recovery_key);
                int slot = r < 0 ? r
                                 : crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, vk, vk_size, ret_recovery_key,
                                                                   RECOVERY_KEY_LENGTH);
                _cleanup_free_ char *json = slot >= 0 ? token_recovery_format(slot) : NULL;
                if (slot < 0)
                        r = log_error_errno(slot, "%s: cannot add the recovery key slot: %s", volume, strerror(-slot));
                else if (!json)
                        r = -ENOMEM;
                else if ((r = crypt_token_json_set(cd, CRYPT_ANY_TOKEN, json)) < 0)
                        log_error_errno(r, "%s: cannot add the systemd-recovery token: %s", volume, strerror(-r));
        }
        OPENSSL_cleanse(vk, sizeof(vk));
        crypt_free(cd);
        return r < 0 ? r : 0;
}
