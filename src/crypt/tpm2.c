/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tpm2.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#define SECRET_SIZE 32

struct tpm2 {
        const char *what;          /* the device as given, for messages */
        TSS2_TCTI_CONTEXT *tcti;
        ESYS_CONTEXT *esys;
        ESYS_TR primary, object, session, policy;
};

static void tpm2_close(struct tpm2 *t) {
        ESYS_TR *h[] = { &t->policy, &t->session, &t->object, &t->primary };
        for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
                if (t->esys && *h[i] != ESYS_TR_NONE) {
                        (void) Esys_FlushContext(t->esys, *h[i]);
                        *h[i] = ESYS_TR_NONE;
                }
        if (t->esys)
                Esys_Finalize(&t->esys);
        if (t->tcti)
                Tss2_TctiLdr_Finalize(&t->tcti);
}

static int tpm2_open(const char *device, struct tpm2 *t) {
        *t = (struct tpm2) { .what = device ? device : "the default TPM",
                             .primary = ESYS_TR_NONE, .object = ESYS_TR_NONE,
                             .session = ESYS_TR_NONE, .policy = ESYS_TR_NONE };
        /* tpm2-tss logs every failed command on stderr; the one line that matters is ours. */
        (void) setenv("TSS2_LOG", "all+NONE", 0);
        _cleanup_free_ char *conf = device && device[0] == '/' ? strprintf("device:%s", device)
                                                                : (device ? strdup(device) : NULL);
        if (device && !conf)
                return -ENOMEM;
        TSS2_RC rc = Tss2_TctiLdr_Initialize(conf, &t->tcti);
        if (rc == TSS2_RC_SUCCESS)
                rc = Esys_Initialize(&t->esys, t->tcti, NULL);
        if (rc == TSS2_RC_SUCCESS) {
                /* A TPM that the firmware did not start (swtpm without startup-clear). */
                TSS2_RC s = Esys_Startup(t->esys, TPM2_SU_CLEAR);
                if (s != TSS2_RC_SUCCESS && s != TPM2_RC_INITIALIZE)
                        rc = s;
        }
        if (rc != TSS2_RC_SUCCESS) {
                tpm2_close(t);
                return log_error_errno(ENODEV, "%s: cannot reach the TPM: %s", t->what, Tss2_RC_Decode(rc));
        }
        return 0;
}

/* The storage root key of systemd-cryptenroll 252: a restricted decryption key in the owner
 * hierarchy with an all-zero unique field, so the TPM derives the same key every time. */
static int make_primary(struct tpm2 *t, const char *alg) {
        TPM2B_PUBLIC tmpl = { .publicArea = {
                .nameAlg = TPM2_ALG_SHA256,
                .objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
                                    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                    TPMA_OBJECT_USERWITHAUTH,
        } };
        TPMT_SYM_DEF_OBJECT aes = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
        if (streq(alg, "ecc")) {
                tmpl.publicArea.type = TPM2_ALG_ECC;
                tmpl.publicArea.parameters.eccDetail = (TPMS_ECC_PARMS) {
                        .symmetric = aes, .scheme.scheme = TPM2_ALG_NULL,
                        .curveID = TPM2_ECC_NIST_P256, .kdf.scheme = TPM2_ALG_NULL };
        } else {
                tmpl.publicArea.type = TPM2_ALG_RSA;
                tmpl.publicArea.parameters.rsaDetail = (TPMS_RSA_PARMS) {
                        .symmetric = aes, .scheme.scheme = TPM2_ALG_NULL, .keyBits = 2048 };
        }
        TPM2B_SENSITIVE_CREATE sensitive = {};
        TPML_PCR_SELECTION none = {};
        TSS2_RC rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                        &sensitive, &tmpl, NULL, &none, &t->primary, NULL, NULL, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS)
                return log_error_errno(EIO, "%s: cannot create the %s storage root key: %s", t->what, alg,
                                       Tss2_RC_Decode(rc));
        return 0;
}

/* A session salted with the storage root key, so that secrets cross the bus encrypted. */
static int start_session(struct tpm2 *t, TPM2_SE type, TPMA_SESSION attrs, ESYS_TR *ret) {
        TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
        TSS2_RC rc = Esys_StartAuthSession(t->esys, t->primary, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                           ESYS_TR_NONE, NULL, type, &sym, TPM2_ALG_SHA256, ret);
        if (rc == TSS2_RC_SUCCESS && attrs)
                rc = Esys_TRSess_SetAttributes(t->esys, *ret, attrs, attrs);
        if (rc != TSS2_RC_SUCCESS)
                return log_error_errno(EIO, "%s: cannot start a session: %s", t->what, Tss2_RC_Decode(rc));
        return 0;
}

static int bank_alg(const char *bank, TPMI_ALG_HASH *ret) {
        if (streq(bank, "sha256"))
                *ret = TPM2_ALG_SHA256;
        else if (streq(bank, "sha1"))
                *ret = TPM2_ALG_SHA1;
        else
                return -EOPNOTSUPP;
        return 0;
}

/* TPM2_PolicyPCR with an empty digest: the TPM takes the current values of the PCRs. */
static int policy_pcr(struct tpm2 *t, ESYS_TR session, uint32_t mask, TPMI_ALG_HASH bank, TPM2B_DIGEST **ret) {
        TPML_PCR_SELECTION sel = { .count = 1, .pcrSelections[0] = { .hash = bank, .sizeofSelect = 3 } };
        for (unsigned i = 0; i < 24; i++)
                if (mask & (UINT32_C(1) << i))
                        sel.pcrSelections[0].pcrSelect[i / 8] |= (uint8_t) (1u << (i % 8));
        TPM2B_DIGEST empty = {};
        TSS2_RC rc = Esys_PolicyPCR(t->esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &sel);
        if (rc == TSS2_RC_SUCCESS)
                rc = Esys_PolicyGetDigest(t->esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ret);
        if (rc != TSS2_RC_SUCCESS)
                return log_error_errno(EIO, "%s: PCR policy failed: %s", t->what, Tss2_RC_Decode(rc));
        return 0;
}

static char *base64(const uint8_t *p, size_t n) {
        char *s = malloc(4 * ((n + 2) / 3) + 1);
        if (s)
                EVP_EncodeBlock((unsigned char *) s, p, (int) n);
        return s;
}

void tpm2_sealed_done(struct tpm2_sealed *s) {
        free(s->blob);
        *s = (struct tpm2_sealed) {};
}

int tpm2_pcr_mask_parse(const char *s, uint32_t *ret) {
        uint32_t mask = 0;
        while (s && *s) {
                char *end;
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                errno = 0;
                unsigned long n = strtoul(s, &end, 10);
                if (end == s || errno || n > 23 || (*end && *end != '+' && *end != ','))
                        return -EINVAL;
                mask |= UINT32_C(1) << n;
                s = *end ? end + 1 : end;
                if (*end && !*s)
                        return -EINVAL;
        }
        *ret = mask;
        return 0;
}

int tpm2_seal(const char *device, uint32_t pcr_mask, struct tpm2_sealed *ret, char **ret_passphrase) {
        struct tpm2 t;
        int r = tpm2_open(device, &t);
        if (r < 0)
                return r;
        const char *alg = "ecc";
        r = make_primary(&t, alg);
        if (r < 0) {
                alg = "rsa";   /* TPMs without ECC, as systemd falls back */
                r = make_primary(&t, alg);
        }
        TPM2B_DIGEST *policy = NULL;
        TPM2B_PRIVATE *priv = NULL;
        TPM2B_PUBLIC *pub = NULL;
        TPM2B_SENSITIVE_CREATE sensitive = { .sensitive.data.size = SECRET_SIZE };
        if (r >= 0)
                r = start_session(&t, TPM2_SE_TRIAL, 0, &t.policy);
        if (r >= 0)
                r = policy_pcr(&t, t.policy, pcr_mask, TPM2_ALG_SHA256, &policy);
        if (r >= 0)
                r = start_session(&t, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION, &t.session);
        if (r >= 0 && RAND_bytes(sensitive.sensitive.data.buffer, SECRET_SIZE) != 1)
                r = log_error_errno(EIO, "no random bytes for the TPM secret");
        if (r >= 0) {
                TPM2B_PUBLIC tmpl = { .publicArea = {
                        .type = TPM2_ALG_KEYEDHASH,
                        .nameAlg = TPM2_ALG_SHA256,
                        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT,
                        .parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
                        .unique.keyedHash.size = 32,
                        .authPolicy = *policy,
                } };
                TPML_PCR_SELECTION none = {};
                TSS2_RC rc = Esys_Create(t.esys, t.primary, t.session, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &tmpl,
                                         NULL, &none, &priv, &pub, NULL, NULL, NULL);
                if (rc != TSS2_RC_SUCCESS)
                        r = log_error_errno(EIO, "%s: cannot seal the key: %s", t.what, Tss2_RC_Decode(rc));
        }
        uint8_t buf[sizeof(TPM2B_PRIVATE) + sizeof(TPM2B_PUBLIC)];
        size_t off = 0;
        if (r >= 0 && (Tss2_MU_TPM2B_PRIVATE_Marshal(priv, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS ||
                       Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS))
                r = log_error_errno(EIO, "%s: cannot marshal the sealed key", t.what);
        struct tpm2_sealed s = { .pcr_mask = pcr_mask, .pcr_bank = "sha256" };
        if (r >= 0) {
                memcpy(s.primary_alg, alg, strlen(alg) + 1);
                s.policy_hash_size = policy->size;
                memcpy(s.policy_hash, policy->buffer, policy->size);
                s.blob = malloc(off);
                char *pass = base64(sensitive.sensitive.data.buffer, SECRET_SIZE);
                if (!s.blob || !pass) {
                        free(s.blob);
                        free(pass);
                        r = -ENOMEM;
                } else {
                        memcpy(s.blob, buf, off);
                        s.blob_size = off;
                        *ret = s;
                        *ret_passphrase = pass;
                }
        }
        OPENSSL_cleanse(&sensitive, sizeof(sensitive));
        Esys_Free(policy);
        Esys_Free(priv);
        Esys_Free(pub);
        tpm2_close(&t);
        return r;
}

int tpm2_unseal(const char *device, const struct tpm2_sealed *s, char **ret_passphrase) {
        TPMI_ALG_HASH bank;
        if (bank_alg(s->pcr_bank, &bank) < 0)
                return log_error_errno(EOPNOTSUPP, "TPM2 token: PCR bank %s is not supported", s->pcr_bank);
        if (s->pin)
                return log_error_errno(EOPNOTSUPP, "TPM2 token: sealed with a PIN, which abota does not support");
        TPM2B_PRIVATE priv = {};
        TPM2B_PUBLIC pub = {};
        size_t off = 0;
        if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(s->blob, s->blob_size, &off, &priv) != TSS2_RC_SUCCESS ||
            Tss2_MU_TPM2B_PUBLIC_Unmarshal(s->blob, s->blob_size, &off, &pub) != TSS2_RC_SUCCESS)
                return log_error_errno(EINVAL, "TPM2 token: the tpm2-blob is not a sealed TPM object");

        struct tpm2 t;
        int r = tpm2_open(device, &t);
        if (r < 0)
                return r;
        r = make_primary(&t, s->primary_alg[0] ? s->primary_alg : "ecc");
        TPM2B_DIGEST *policy = NULL;
        TPM2B_SENSITIVE_DATA *out = NULL;
        if (r >= 0) {
                TSS2_RC rc = Esys_Load(t.esys, t.primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub,
                                       &t.object);
                if (rc != TSS2_RC_SUCCESS)
                        r = log_error_errno(EPERM, "%s: the TPM refuses the sealed key: it was sealed by another TPM "
                                            "or before the TPM was cleared (%s)", t.what, Tss2_RC_Decode(rc));
        }
        if (r >= 0)
                r = start_session(&t, TPM2_SE_POLICY, TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION, &t.policy);
        if (r >= 0)
                r = policy_pcr(&t, t.policy, s->pcr_mask, bank, &policy);
        if (r >= 0 && s->policy_hash_size > 0 &&
            (policy->size != s->policy_hash_size || memcmp(policy->buffer, s->policy_hash, policy->size) != 0))
                r = log_error_errno(EPERM, "%s: the TPM refuses the sealed key: the PCR values differ from those "
                                    "it was sealed to (the boot chain changed)", t.what);
        if (r >= 0) {
                TSS2_RC rc = Esys_Unseal(t.esys, t.object, t.policy, ESYS_TR_NONE, ESYS_TR_NONE, &out);
                if (rc != TSS2_RC_SUCCESS)
                        r = log_error_errno(EPERM, "%s: the TPM refuses to unseal the key: %s", t.what,
                                            Tss2_RC_Decode(rc));
        }
        if (r >= 0) {
                *ret_passphrase = base64(out->buffer, out->size);
                if (!*ret_passphrase)
                        r = -ENOMEM;
                OPENSSL_cleanse(out, sizeof(*out));
        }
        Esys_Free(policy);
        Esys_Free(out);
        tpm2_close(&t);
        return r;
}
