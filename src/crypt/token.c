/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "token.h"

#include "base/util.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static int add(json_object *o, const char *key, json_object *v) {
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static json_object *keyslots(int keyslot) {
        char s[16];
        snprintf(s, sizeof(s), "%d", keyslot);
        json_object *a = json_object_new_array();
        if (a && json_object_array_add(a, json_object_new_string(s)) < 0) {
                json_object_put(a);
                return NULL;
        }
        return a;
}

static char *finish(json_object *o, int r) {
        char *s = r >= 0 ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) : NULL;
        json_object_put(o);
        return s;
}

char *token_tpm2_format(const struct tpm2_sealed *s, int keyslot) {
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        _cleanup_free_ char *blob = malloc(4 * ((s->blob_size + 2) / 3) + 1);
        _cleanup_free_ char *hash = malloc(2 * s->policy_hash_size + 1);
        json_object *pcrs = json_object_new_array();
        int r = blob && hash && pcrs ? 0 : -ENOMEM;
        if (r < 0) {
                json_object_put(pcrs);
                return finish(o, r);
        }
        EVP_EncodeBlock((unsigned char *) blob, s->blob, (int) s->blob_size);
        hex_format(s->policy_hash, s->policy_hash_size, hash);
        for (int i = 0; i < 24 && r >= 0; i++)
                if (s->pcr_mask & (UINT32_C(1) << i))
                        r = json_object_array_add(pcrs, json_object_new_int(i)) < 0 ? -ENOMEM : 0;
        if (r < 0)
                json_object_put(pcrs);
        r = r < 0 ? r : add(o, "type", json_object_new_string("systemd-tpm2"));
        r = r < 0 ? r : add(o, "keyslots", keyslots(keyslot));
        r = r < 0 ? r : add(o, "tpm2-blob", json_object_new_string(blob));
        r = r < 0 ? r : add(o, "tpm2-pcrs", pcrs);
        r = r < 0 ? r : add(o, "tpm2-pcr-bank", json_object_new_string(s->pcr_bank));
        r = r < 0 ? r : add(o, "tpm2-primary-alg", json_object_new_string(s->primary_alg));
        r = r < 0 ? r : add(o, "tpm2-policy-hash", json_object_new_string(hash));
        r = r < 0 ? r : add(o, "tpm2-pin", json_object_new_boolean(0));
        return finish(o, r);
}

char *token_recovery_format(int keyslot) {
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        int r = add(o, "type", json_object_new_string("systemd-recovery"));
        r = r < 0 ? r : add(o, "keyslots", keyslots(keyslot));
        return finish(o, r);
}

static const char *get_string(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v) : NULL;
}

static int parse(json_object *o, struct tpm2_sealed *s, int *ret_keyslot) {
        json_object *v;
        if (!streq_ptr(get_string(o, "type"), "systemd-tpm2"))
                return -EMEDIUMTYPE;

        *ret_keyslot = -1;
        if (json_object_object_get_ex(o, "keyslots", &v) && json_object_is_type(v, json_type_array) &&
            json_object_array_length(v) > 0) {
                const char *k = json_object_get_string(json_object_array_get_idx(v, 0));
                uint64_t n;
                if (!k || parse_uint64(k, 10, &n) < 0 || n > 31)
                        return -EINVAL;
                *ret_keyslot = (int) n;
        }

        const char *blob = get_string(o, "tpm2-blob");
        size_t len = blob ? strlen(blob) : 0;
        if (len == 0 || len % 4 != 0)
                return -EINVAL;
        s->blob = malloc(len / 4 * 3);
        if (!s->blob)
                return -ENOMEM;
        int n = EVP_DecodeBlock(s->blob, (const unsigned char *) blob, (int) len);
        if (n < 0)
                return -EINVAL;
        s->blob_size = (size_t) n - (blob[len - 1] == '=') - (blob[len - 2] == '=');

        if (!json_object_object_get_ex(o, "tpm2-pcrs", &v) || !json_object_is_type(v, json_type_array))
                return -EINVAL;
        for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *e = json_object_array_get_idx(v, i);
                int64_t pcr = json_object_get_int64(e);
                if (!json_object_is_type(e, json_type_int) || pcr < 0 || pcr > 23)
                        return -EINVAL;
                s->pcr_mask |= UINT32_C(1) << pcr;
        }

        /* systemd 252 writes both fields and assumes these values when they are absent. */
        const char *bank = get_string(o, "tpm2-pcr-bank") ?: "sha256";
        const char *alg = get_string(o, "tpm2-primary-alg") ?: "ecc";
        if (strlen(bank) >= sizeof(s->pcr_bank) || strlen(alg) >= sizeof(s->primary_alg))
                return -EINVAL;
        strcpy(s->pcr_bank, bank);
        strcpy(s->primary_alg, alg);

        const char *hash = get_string(o, "tpm2-policy-hash");
        if (hash) {
                size_t h = strlen(hash);
                if (h % 2 != 0 || h / 2 > sizeof(s->policy_hash) || hex_parse(hash, h / 2, s->policy_hash) < 0)
                        return -EINVAL;
                s->policy_hash_size = h / 2;
        }
        s->pin = json_object_object_get_ex(o, "tpm2-pin", &v) && json_object_get_boolean(v);
        return 0;
}

int token_tpm2_parse(const char *json, struct tpm2_sealed *ret, int *ret_keyslot) {
        json_object *o = json_tokener_parse(json);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EINVAL;
        }
        struct tpm2_sealed s = {};
        int r = parse(o, &s, ret_keyslot);
        json_object_put(o);
        if (r < 0) {
                tpm2_sealed_done(&s);
                return r;
        }
        *ret = s;
        return 0;
}
