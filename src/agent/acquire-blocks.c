/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The block-reuse path (acquire-blocks.h), in four steps over the new slot:
 *
 *     index (fetched, checked against SHA256SUMS) -> zero blocks -> local slots -> Range requests
 *
 * (up to 100 ranges per request, the multipart/byteranges answer decoded as it streams in; first,
 * in one range, the frames' dictionary), then the written slot is hashed against the image's
 * SHA-256. Memory: the index and a table of its hashes (about 30 bytes per 4 KiB block, 2.5 MiB
 * for a 320 MiB image), the dictionary (at most 1 MiB, 512 KiB as published), one read buffer and
 * one frame; the slots are read and written with pread/pwrite. */
#include "acquire-blocks.h"

#include "acquire.h"
#include "acquire-patch.h"
#include "acquire-stage.h"
#include "http-multipart.h"
#include "partition.h"
#include "resource.h"
#include "base/log.h"
#include "base/util.h"
#include "sysupdate/block-index.h"
#include "sysupdate/manifest.h"

#include <curl/curl.h>
#include <zstd.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <unistd.h>

#define READ_BUFFER (1024U * 1024U)
/* Frames closer than this are fetched in one range with what lies between: a range costs about 20
 * bytes in the Range header and 90 to 120 bytes of part header in the multipart answer. On
 * bench/delta's data set (tests/helpers/httpd.py: 122-byte part headers), the range answers with
 * gaps of 0, 128, 512 and 1024 bytes come to 9.671, 9.671, 9.678 and 9.691 MiB for v1 -> v2, and
 * to 23.067, 23.065, 23.086 and 23.125 MiB for v1 -> v3. */
#define RANGE_GAP_MAX 128U
/* Ranges per request: the Range header stays under 4 KiB (Apache answers at most 200 ranges,
 * MaxRanges; nginx and lighttpd read the request headers into 8 KiB buffers). */
#define RANGES_PER_REQUEST 100U
#define RANGE_HEADER_MAX 4000U
#define NONE UINT32_MAX

int acquire_blocks_attach(struct resource *r, const struct manifest *m) {
        for (size_t i = 0; i < m->n_entries; i++) {
                const struct manifest_entry *e = &m->entries[i];
                const char *target = startswith(e->name, BLOCK_INDEX_PREFIX);
                if (!target || !*target)
                        continue;
                for (size_t j = 0; j < r->n_instances; j++) {
                        struct instance *in = r->instances[j];
                        size_t nl = strlen(in->name), pl = strlen(in->path);
                        if (!streq(in->name, target) || pl < nl || in->index_url)
                                continue;
                        /* the payload URL with the index's name as its last component ('@' as %40) */
                        in->index_url = strprintf("%.*s%%40index%%40%s", (int) (pl - nl), in->path, target);
                        in->blocks_url = strprintf("%.*s%%40blocks%%40%s", (int) (pl - nl), in->path, target);
                        if (!in->index_url || !in->blocks_url)
                                return -ENOMEM;
                        memcpy(in->index_sha256, e->sha256, 32);
                }
        }
        return 0;
}

struct blocks {
        const char *what;
        int fd;
        uint64_t offset;
        const struct block_index *idx;
        uint32_t *table;     /* open addressing by hash: the first block with it, NONE = empty */
        size_t table_mask;
        uint32_t *next;      /* the next block with the same hash, NONE = last */
        uint8_t *have;       /* the block is written */
        uint8_t *planned;    /* first blocks of a hash: one block with it is being fetched */
        size_t left;         /* non-zero blocks not written yet */
        size_t local;        /* blocks taken from local slots */
        ZSTD_DDict *dict;    /* of the frames, NULL = none */
};

static uint64_t hash_key(const uint8_t h[BLOCK_HASH_SIZE]) {
        uint64_t k;
        memcpy(&k, h, sizeof(k));
        return k;
}

static uint32_t lookup(const struct blocks *b, const uint8_t h[BLOCK_HASH_SIZE]) {
        for (size_t s = (size_t) hash_key(h) & b->table_mask;; s = (s + 1) & b->table_mask) {
                uint32_t i = b->table[s];
                if (i == NONE || memcmp(b->idx->hashes[i], h, BLOCK_HASH_SIZE) == 0)
                        return i;
        }
}

static int blocks_init(struct blocks *b) {
        const struct block_index *idx = b->idx;
        size_t size = 1;
        while (size < 2 * idx->n_blocks)
                size <<= 1;
        b->table = malloc(size * sizeof(uint32_t));
        b->next = malloc(idx->n_blocks * sizeof(uint32_t));
        b->have = calloc(idx->n_blocks, 1);
        b->planned = calloc(idx->n_blocks, 1);
        if (!b->table || !b->next || !b->have || !b->planned)
                return -ENOMEM;
        memset(b->table, 0xff, size * sizeof(uint32_t));
        b->table_mask = size - 1;
        for (size_t i = idx->n_blocks; i-- > 0;) {
                b->next[i] = NONE;
                if (idx->lengths[i] == 0)
                        continue;
                b->left++;
                size_t s = (size_t) hash_key(idx->hashes[i]) & b->table_mask;
                while (b->table[s] != NONE && memcmp(idx->hashes[b->table[s]], idx->hashes[i], BLOCK_HASH_SIZE) != 0)
                        s = (s + 1) & b->table_mask;
                b->next[i] = b->table[s]; /* prepended: the chain stays in block order */
                b->table[s] = (uint32_t) i;
        }
        return 0;
}

static void blocks_done(struct blocks *b) {
        free(b->table);
        free(b->next);
        free(b->have);
        free(b->planned);
}

static size_t block_bytes(const struct block_index *idx, size_t i) {
        return i + 1 < idx->n_blocks ? idx->block_size : (size_t) (idx->image_size - (uint64_t) i * idx->block_size);
}

/* Writes data (the content of every block with its hash) to each block of the chain from first
 * that is not written yet. */
static int write_chain(struct blocks *b, uint32_t first, const uint8_t *data) {
        for (uint32_t j = first; j != NONE; j = b->next[j]) {
                if (b->have[j])
                        continue;
                uint64_t at = b->offset + (uint64_t) j * b->idx->block_size;
                int r = pwrite_full(b->fd, data, block_bytes(b->idx, j), at);
                if (r < 0)
                        return log_error_errno(r, "%s: write at byte %" PRIu64 " failed: %s", b->what, at, strerror(-r));
                b->have[j] = 1;
                b->left--;
        }
        return 0;
}

/* All-zero blocks: punched (reads back as zeros on files and block devices), or written. */
static int write_zeros(struct blocks *b) {
        static const uint8_t zero[BLOCK_SIZE];
        const struct block_index *idx = b->idx;
        for (size_t i = 0; i < idx->n_blocks;) {
                if (idx->lengths[i] != 0) {
                        i++;
                        continue;
                }
                size_t j = i;
                uint64_t n = 0;
                for (; j < idx->n_blocks && idx->lengths[j] == 0; j++)
                        n += block_bytes(idx, j);
                uint64_t at = b->offset + (uint64_t) i * idx->block_size;
                if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) at, (off_t) n) < 0)
                        for (uint64_t k = 0; k < n; k += sizeof(zero)) {
                                int r = pwrite_full(b->fd, zero, n - k < sizeof(zero) ? (size_t) (n - k) : sizeof(zero), at + k);
                                if (r < 0)
                                        return log_error_errno(r, "%s: write failed: %s", b->what, strerror(-r));
                        }
                i = j;
        }
        return 0;
}

/* Hashes every whole block of [start, start + size) of fd and copies those the image needs. */
static int scan_slot(struct blocks *b, uint64_t start, uint64_t size, uint8_t *buf) {
        const uint32_t bs = b->idx->block_size;
        for (uint64_t pos = 0; pos + bs <= size && b->left > 0;) {
                size_t n = size - pos < READ_BUFFER ? (size_t) (size - pos) : READ_BUFFER;
                n -= n % bs;
                int r = pread_full(b->fd, buf, n, start + pos);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot read a local slot: %s", b->what, strerror(-r));
                for (size_t k = 0; k < n; k += bs) {
                        uint8_t h[BLOCK_HASH_SIZE];
                        if (block_hash(buf + k, bs, h) < 0)
                                return log_error_errno(EIO, "%s: SHA-256 computation failed", b->what);
                        uint32_t first = lookup(b, h);
                        if (first == NONE)
                                continue;
                        size_t before = b->left;
                        r = write_chain(b, first, buf + k);
                        if (r < 0)
                                return r;
                        b->local += before - b->left;
                }
                pos += n;
        }
        return 0;
}

/* A range of the blocks file: the frames of blocks [first, last]. */
struct range {
        uint32_t first, last;
};

/* The blocks still missing, one per hash, as ranges of the data file. */
static int plan_ranges(struct blocks *b, struct range **ret, size_t *ret_n, uint64_t *ret_bytes) {
        const struct block_index *idx = b->idx;
        struct range *l = NULL;
        size_t n = 0;
        uint64_t bytes = 0;
        for (size_t i = 0; i < idx->n_blocks; i++) {
                if (idx->lengths[i] == 0 || b->have[i])
                        continue;
                uint32_t first = lookup(b, idx->hashes[i]);
                if (b->planned[first])
                        continue;
                b->planned[first] = 1;
                if (n > 0 && idx->offsets[i] - idx->offsets[l[n - 1].last + 1] <= RANGE_GAP_MAX) {
                        bytes += idx->offsets[i + 1] - idx->offsets[l[n - 1].last + 1];
                        l[n - 1].last = (uint32_t) i;
                        continue;
                }
                struct range *m = realloc(l, (n + 1) * sizeof(*l));
                if (!m) {
                        free(l);
                        return -ENOMEM;
                }
                l = m;
                l[n++] = (struct range) { (uint32_t) i, (uint32_t) i };
                bytes += idx->lengths[i];
        }
        *ret = l;
        *ret_n = n;
        *ret_bytes = bytes;
        return 0;
}

/* Servers (scheme://host:port) seen answering a request for several ranges with the whole file or
 * with only some of them, and how many ranges to ask them for per request from then on, for the
 * rest of the run (process-wide, like the connection cache). */
static struct {
        char origin[128];
        size_t ranges;
} range_limits[8];

static size_t origin_length(const char *url) {
        const char *s = strstr(url, "://");
        const char *e = s ? strchr(s + 3, '/') : NULL;
        return e ? (size_t) (e - url) : strlen(url);
}

static size_t ranges_per_request(const char *url) {
        size_t n = origin_length(url);
        for (size_t i = 0; i < ELEMENTSOF(range_limits); i++)
                if (strlen(range_limits[i].origin) == n && strncmp(range_limits[i].origin, url, n) == 0)
                        return range_limits[i].ranges;
        return RANGES_PER_REQUEST;
}

static void ranges_per_request_set(const char *url, size_t ranges) {
        size_t n = origin_length(url);
        for (size_t i = 0; i < ELEMENTSOF(range_limits) && n < sizeof(range_limits[i].origin); i++)
                if (!range_limits[i].origin[0] ||
                    (strlen(range_limits[i].origin) == n && strncmp(range_limits[i].origin, url, n) == 0)) {
                        memcpy(range_limits[i].origin, url, n);
                        range_limits[i].ranges = ranges;
                        return;
                }
}

/* One request being received: the ranges asked for, then the answer's frames as they arrive, in
 * whatever parts and order the server sends them. */
struct fetch {
        struct blocks *b;
        const char *url;
        CURL *curl;
        ZSTD_DCtx *d;
        uint64_t span_first, span_end; /* the ranges asked for lie in [span_first, span_end) */
        bool several;                  /* more than one range asked for */
        char content_type[256];
        bool has_range;                /* the answer's Content-Range (a single part) */
        struct http_range range;
        bool started, multipart;
        const char *aborted;           /* several ranges asked for, something else coming: why */
        struct http_multipart mp;
        uint64_t pos, part_end;        /* the next byte of the part arriving, and the part's end */
        uint32_t cur;                  /* the block whose frame holds pos */
        bool skip;                     /* the part began inside that frame: not decoded */
        uint8_t frame[ZSTD_COMPRESSBOUND(BLOCK_SIZE)];
        size_t frame_got;
        uint8_t out[BLOCK_SIZE];
        uint64_t received;
        size_t requests;
        int error;
        char errbuf[CURL_ERROR_SIZE];
};

static size_t fetch_header(char *data, size_t size, size_t nmemb, void *userdata) {
        struct fetch *f = userdata;
        size_t n = size * nmemb;
        char line[256];
        snprintf(line, sizeof(line), "%.*s", (int) (n < sizeof(line) ? n : sizeof(line) - 1), data);
        if (strncmp(line, "HTTP/", 5) == 0) { /* a new answer (after a redirect): forget the last one's */
                f->has_range = false;
                f->content_type[0] = '\0';
        } else if (strncasecmp(line, "content-range:", 14) == 0)
                f->has_range = http_content_range_parse(line + 14, &f->range) >= 0;
        else if (strncasecmp(line, "content-type:", 13) == 0)
                snprintf(f->content_type, sizeof(f->content_type), "%s", line + 13);
        return n;
}

/* A whole frame of block f->cur arrived: decode, check, write. */
static int frame_done(struct fetch *f) {
        const struct block_index *idx = f->b->idx;
        size_t want = block_bytes(idx, f->cur);
        uint8_t h[BLOCK_HASH_SIZE];
        if (block_frame_decompress(f->d, f->b->dict, f->frame, f->frame_got, f->out, want) < 0 || block_hash(f->out, want, h) < 0 ||
            memcmp(h, idx->hashes[f->cur], BLOCK_HASH_SIZE) != 0)
                return log_error_errno(EBADMSG, "%s: block %" PRIu32 " does not match the block index", f->url, f->cur);
        return write_chain(f->b, lookup(f->b, idx->hashes[f->cur]), f->out);
}

/* A part of the blocks file begins: a part of a multipart answer, or the range of a single one. */
static int part_begin(void *userdata, const struct http_range *rg) {
        struct fetch *f = userdata;
        const struct block_index *idx = f->b->idx;
        if (rg->complete != UINT64_MAX && rg->complete != idx->data_size)
                return f->error = log_warning_errno(EBADMSG, "%s: the file has %" PRIu64 " bytes, the block index says %" PRIu64,
                                                    f->url, rg->complete, idx->data_size);
        if (rg->first < f->span_first || rg->last >= f->span_end)
                return f->error = log_warning_errno(EBADMSG, "%s: the server answers bytes %" PRIu64 "-%" PRIu64
                                                    ", not what was asked for", f->url, rg->first, rg->last);
        /* the frame holding the first byte: offsets[lo] <= first < offsets[lo + 1] */
        size_t lo = 0, hi = idx->n_blocks;
        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;
                if (idx->offsets[mid] <= rg->first)
                        lo = mid;
                else
                        hi = mid;
        }
        f->cur = (uint32_t) lo;
        f->pos = rg->first;
        f->part_end = rg->last + 1;
        f->frame_got = (size_t) (rg->first - idx->offsets[lo]);
        f->skip = f->frame_got > 0;
        return 0;
}

static int part_data(void *userdata, const uint8_t *p, size_t n) {
        struct fetch *f = userdata;
        const struct block_index *idx = f->b->idx;
        if (n > f->part_end - f->pos)
                return f->error = log_warning_errno(EBADMSG, "%s: more bytes than the range asked for", f->url);
        while (n > 0) {
                size_t k = idx->lengths[f->cur] - f->frame_got;
                bool want = !f->skip && !f->b->have[f->cur];
                if (k > n)
                        k = n;
                if (want)
                        memcpy(f->frame + f->frame_got, p, k);
                f->frame_got += k;
                f->pos += k;
                p += k;
                n -= k;
                if (f->frame_got < idx->lengths[f->cur])
                        break;
                if (want && (f->error = frame_done(f)) < 0)
                        return f->error;
                f->frame_got = 0;
                f->skip = false;
                if (f->pos < f->part_end)
                        do
                                f->cur++;
                        while (idx->lengths[f->cur] == 0);
        }
        return 0;
}

static const struct http_multipart_ops part_ops = { .part = part_begin, .data = part_data };

static int status_refused(const struct fetch *f, long status) {
        if (status == 200)
                return log_warning_errno(EPROTO, "%s: the server does not answer range requests (HTTP 200)", f->url);
        if (status == 416)
                return log_warning_errno(EPROTO, "%s: the server refuses the ranges asked for (HTTP 416)", f->url);
        return log_warning_errno(EPROTO, "%s: HTTP %ld to a range request", f->url, status);
}

/* The answer's headers are all there: what is coming? */
static int answer_begin(struct fetch *f) {
        char boundary[HTTP_BOUNDARY_MAX + 1];
        long status = 0;
        curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
        if (f->several && status == 200) {
                f->aborted = "with the whole file"; /* not worth receiving: asked again range by range */
                return -EPROTO;
        }
        if (status != 206)
                return f->error = status_refused(f, status);
        int r = http_multipart_boundary(f->content_type, boundary);
        if (r == 0) {
                f->multipart = true;
                http_multipart_init(&f->mp, boundary, &part_ops, f);
                return 0;
        }
        if (r != -ENOMSG)
                return f->error = log_warning_errno(EBADMSG, "%s: a multipart/byteranges answer without a valid boundary", f->url);
        if (!f->has_range)
                return f->error = log_warning_errno(EBADMSG, "%s: a 206 answer without a valid Content-Range", f->url);
        if (f->several && (f->range.first < f->span_first || f->range.last >= f->span_end)) {
                f->aborted = "with bytes not asked for";
                return -EPROTO;
        }
        return part_begin(f, &f->range);
}

static size_t fetch_write(char *data, size_t size, size_t nmemb, void *userdata) {
        struct fetch *f = userdata;
        size_t n = size * nmemb;
        if (!f->started) {
                f->started = true;
                if (answer_begin(f) < 0)
                        return 0;
        }
        f->received += n;
        int r = f->multipart ? http_multipart_feed(&f->mp, data, n) : part_data(f, (const uint8_t *) data, n);
        if (r < 0 && !f->error)
                f->error = log_warning_errno(EBADMSG, "%s: a malformed multipart/byteranges answer: %s", f->url,
                                             f->mp.error ? f->mp.error : strerror(-r));
        return r < 0 ? 0 : n;
}

static bool range_done(const struct blocks *b, const struct range *l) {
        for (uint32_t i = l->first; i <= l->last; i++)
                if (b->idx->lengths[i] > 0 && !b->have[i])
                        return false;
        return true;
}

/* One request for the n ranges of l (in file order): 0 when the answer was taken (all of the
 * ranges, or some of them: the caller looks), -errno when it was refused (logged). */
static int fetch_request(struct fetch *f, const struct range *const *l, size_t n) {
        const struct block_index *idx = f->b->idx;
        char ranges[RANGE_HEADER_MAX + 64];
        size_t len = 0;
        for (size_t i = 0; i < n; i++)
                len += (size_t) snprintf(ranges + len, sizeof(ranges) - len, "%s%" PRIu64 "-%" PRIu64, i > 0 ? "," : "",
                                         idx->offsets[l[i]->first], idx->offsets[l[i]->last + 1] - 1);
        *f = (struct fetch) { .b = f->b, .url = f->url, .curl = f->curl, .d = f->d, .several = n > 1,
                              .span_first = idx->offsets[l[0]->first], .span_end = idx->offsets[l[n - 1]->last + 1],
                              .received = f->received, .requests = f->requests + 1 };
        curl_easy_setopt(f->curl, CURLOPT_RANGE, ranges);
        CURLcode c = curl_easy_perform(f->curl);
        if (f->error)
                return f->error;
        if (c != CURLE_OK && !f->aborted) {
                const char *why = *f->errbuf ? f->errbuf : curl_easy_strerror(c);
                if (n == 1)
                        return log_warning_errno(EIO, "%s: range %s: %s", f->url, ranges, why);
                return log_warning_errno(EIO, "%s: a request for %zu ranges: %s", f->url, n, why);
        }
        if (!f->started) { /* no body */
                long status = 0;
                curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
                return status_refused(f, status);
        }
        if (f->multipart && http_multipart_end(&f->mp) < 0)
                return log_warning_errno(EBADMSG, "%s: a malformed multipart/byteranges answer: %s", f->url, f->mp.error);
        if (n == 1 && !range_done(f->b, l[0]))
                return log_warning_errno(EBADMSG, "%s: range %s: the answer ended early", f->url, ranges);
        return 0;
}

static int fetch_ranges(struct blocks *b, const char *url, const struct range *l, size_t n, uint64_t *ret_received,
                        size_t *ret_requests) {
        CURL *curl = curl_easy_init();
        ZSTD_DCtx *d = ZSTD_createDCtx();
        struct fetch *f = calloc(1, sizeof(*f));
        struct acquire_fetch_options o;
        const struct range *batch[RANGES_PER_REQUEST];
        size_t limit = ranges_per_request(url);
        int r = curl && d && f ? 0 : -ENOMEM;
        if (r >= 0)
                r = acquire_curl_setup(curl, url, "http,https");
        if (r >= 0) {
                acquire_fetch_options_default(&o);
                if (acquire_http_share())
                        curl_easy_setopt(curl, CURLOPT_SHARE, acquire_http_share());
                curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long) o.connect_timeout_sec);
                curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, (long) o.low_speed_limit);
                curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long) o.low_speed_time_sec);
                curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long) o.transfer_timeout_sec);
                curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, fetch_header);
                curl_easy_setopt(curl, CURLOPT_HEADERDATA, f);
                curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fetch_write);
                curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
                curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, f->errbuf);
                *f = (struct fetch) { .b = b, .url = url, .curl = curl, .d = d };
        }
        for (size_t i = 0; r >= 0;) {
                /* the next ranges not written yet, as many as one request takes */
                size_t k = 0, header = 0;
                while (i < n && range_done(b, &l[i]))
                        i++;
                for (size_t j = i; j < n && k < limit; j++) {
                        if (range_done(b, &l[j]))
                                continue;
                        size_t len = (size_t) snprintf(NULL, 0, "%" PRIu64 "-%" PRIu64 ",", b->idx->offsets[l[j].first],
                                                       b->idx->offsets[l[j].last + 1] - 1);
                        if (k > 0 && header + len > RANGE_HEADER_MAX)
                                break;
                        batch[k++] = &l[j];
                        header += len;
                }
                if (k == 0)
                        break;
                r = fetch_request(f, batch, k);
                size_t answered = 0;
                for (size_t j = 0; j < k && r >= 0; j++)
                        answered += range_done(b, batch[j]);
                if (r < 0 || answered == k)
                        continue;
                /* fewer ranges per request: each request makes progress or asks for fewer, so
                 * this ends with one range per request at worst */
                char why[64];
                limit = answered > 1 ? answered : 1;
                ranges_per_request_set(url, limit);
                if (f->aborted)
                        snprintf(why, sizeof(why), "%s", f->aborted);
                else
                        snprintf(why, sizeof(why), "with only %zu of them", answered);
                if (limit == 1)
                        log_info("%s: the server answers a request for %zu ranges %s: asking for one range per request",
                                 url, k, why);
                else
                        log_info("%s: the server answers a request for %zu ranges %s: asking for at most %zu ranges per request",
                                 url, k, why, limit);
        }
        if (f) {
                *ret_received = f->received;
                *ret_requests = f->requests;
        }
        free(f);
        ZSTD_freeDCtx(d);
        if (curl)
                curl_easy_cleanup(curl);
        return r < 0 ? r : 0;
}

static int slot_matches(int fd, uint64_t offset, uint64_t size, const uint8_t want[32], uint8_t *buf) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        uint8_t got[32];
        unsigned len = 0;
        int r = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
        for (uint64_t pos = 0; pos < size && r >= 0; pos += READ_BUFFER) {
                size_t n = size - pos < READ_BUFFER ? (size_t) (size - pos) : READ_BUFFER;
                r = pread_full(fd, buf, n, offset + pos);
                if (r >= 0 && EVP_DigestUpdate(c, buf, n) != 1)
                        r = -EIO;
        }
        if (r >= 0 && (EVP_DigestFinal_ex(c, got, &len) != 1 || len != 32))
                r = -EIO;
        EVP_MD_CTX_free(c);
        return r < 0 ? r : memcmp(got, want, 32) == 0;
}

static size_t dict_write(char *data, size_t size, size_t nmemb, void *userdata) {
        struct iovec *v = userdata;
        size_t n = size * nmemb;
        if (n > v->iov_len)
                return 0; /* more than asked for (a 200 with the whole file): stop */
        memcpy(v->iov_base, data, n);
        v->iov_base = (uint8_t *) v->iov_base + n;
        v->iov_len -= n;
        return n;
}

/* Fetches the dictionary at the start of the data file (one Range request) and loads it into b:
 * 0, or -errno (logged as a warning). */
static int dict_fetch(struct blocks *b, const char *url) {
        const struct block_index *idx = b->idx;
        _cleanup_free_ uint8_t *buf = idx->dict_size > 0 ? malloc(idx->dict_size) : NULL;
        struct iovec v = { buf, idx->dict_size };
        char range[32], errbuf[CURL_ERROR_SIZE] = "";
        long status = 0;
        if (idx->dict_size == 0)
                return 0;
        CURL *curl = curl_easy_init();
        int r = curl && buf ? acquire_curl_setup(curl, url, "http,https") : -ENOMEM;
        if (r >= 0) {
                struct acquire_fetch_options o;
                acquire_fetch_options_default(&o);
                snprintf(range, sizeof(range), "0-%" PRIu32, idx->dict_size - 1);
                if (acquire_http_share())
                        curl_easy_setopt(curl, CURLOPT_SHARE, acquire_http_share());
                curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
                curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long) o.connect_timeout_sec);
                curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long) o.transfer_timeout_sec);
                curl_easy_setopt(curl, CURLOPT_RANGE, range);
                curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, dict_write);
                curl_easy_setopt(curl, CURLOPT_WRITEDATA, &v);
                CURLcode c = curl_easy_perform(curl);
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
                if (status != 206 && status != 0)
                        r = log_warning_errno(EPROTO, "%s: the server does not answer range requests (HTTP %ld)", url, status);
                else if (c != CURLE_OK || v.iov_len != 0)
                        r = log_warning_errno(EIO, "%s: range %s (the dictionary): %s", url, range,
                                              c != CURLE_OK ? (*errbuf ? errbuf : curl_easy_strerror(c)) : "the answer ended early");
        }
        if (curl)
                curl_easy_cleanup(curl);
        if (r >= 0)
                r = block_dict_load(idx, buf, idx->dict_size, &b->dict);
        if (r == -EBADMSG)
                r = log_warning_errno(r, "%s: the dictionary does not match the block index", url);
        return r;
}

/* Fetches and checks the index: 0 and *ret, or -errno (logged as a warning). */
static int index_fetch(const struct instance *src, const char *what, struct block_index **ret, size_t *ret_size) {
        _cleanup_free_ char *data = NULL;
        uint8_t got[32];
        unsigned len = 0;
        size_t n = 0;
        int r = acquire_fetch_small(src->index_url, BLOCK_INDEX_MAX, &data, &n);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return log_warning_errno(r, "%s: cannot fetch the block index %s", what, src->index_url);
        if (EVP_Digest(data, n, got, &len, EVP_sha256(), NULL) != 1 || len != 32)
                return -EIO;
        if (memcmp(got, src->index_sha256, 32) != 0)
                return log_warning_errno(EBADMSG, "%s: the block index %s does not match SHA256SUMS", what, src->index_url);
        r = block_index_load(data, n, ret);
        if (r == -EPROTONOSUPPORT)
                return log_warning_errno(r, "%s: the block index %s has another format version than this abota reads (%s)",
                                         what, src->index_url, BLOCK_INDEX_MAGIC);
        if (r == -EBADMSG)
                return log_warning_errno(r, "%s: the block index %s is not valid", what, src->index_url);
        *ret_size = n;
        return r;
}

/* 1 written, 0 not worth it, -errno failed (logged). */
static int blocks_apply(const struct resource *target, const struct instance *src, int fd, uint64_t offset,
                        uint64_t size, bool sync, const char *what, const struct block_index *idx, uint64_t index_size) {
        struct blocks b = { .what = what, .fd = fd, .offset = offset, .idx = idx };
        _cleanup_free_ uint8_t *buf = malloc(READ_BUFFER);
        _cleanup_free_ struct range *ranges = NULL;
        size_t n_ranges = 0, requests = 0;
        uint64_t fetch = 0, received = 0, full = UINT64_MAX, dict = 0;
        char a[16], c[16], d[16], e[16];
        bool forced = streq_ptr(getenv("ABOTA_PATH"), "blocks");
        int r = buf ? blocks_init(&b) : -ENOMEM;
        if (r >= 0 && idx->image_size > size)
                r = log_warning_errno(EFBIG, "%s: the image of the block index is larger than the slot (%s)", what,
                                      format_bytes(a, size));
        if (r >= 0)
                r = write_zeros(&b);
        for (size_t i = 0; i < target->n_instances && r >= 0 && b.left > 0; i++)
                if (target->instances[i]->partition)
                        r = scan_slot(&b, target->instances[i]->partition->start, target->instances[i]->partition->size, buf);
        if (r >= 0)
                r = plan_ranges(&b, &ranges, &n_ranges, &fetch);
        /* the dictionary is fetched once, when there are frames to decode */
        dict = n_ranges > 0 ? idx->dict_size : 0;
        if (r >= 0 && !forced && acquire_probe(src->path, &full) >= 0 && full != UINT64_MAX &&
            index_size + dict + fetch >= full) {
                log_info("%s: block reuse would fetch %s, the full image is %s: downloading the full image", what,
                         format_bytes(a, index_size + dict + fetch), format_bytes(c, full));
                r = 0;
                goto finish;
        }
        if (r >= 0 && dict > 0)
                r = dict_fetch(&b, src->blocks_url);
        if (r >= 0)
                r = fetch_ranges(&b, src->blocks_url, ranges, n_ranges, &received, &requests);
        if (r >= 0 && b.left > 0)
                r = log_warning_errno(EIO, "%s: %zu blocks were not written", what, b.left);
        if (r >= 0) {
                r = slot_matches(fd, offset, idx->image_size, idx->image_sha256, buf);
                if (r == 0)
                        r = log_warning_errno(EBADMSG, "%s: the slot written by block reuse does not hash to the published image",
                                              what);
                else if (r < 0)
                        r = log_warning_errno(r, "%s: cannot read back the slot: %s", what, strerror(-r));
        }
        if (r > 0 && sync && fsync(fd) < 0)
                r = log_warning_errno(errno, "%s: fsync failed: %s", what, strerror(errno));
        if (r > 0)
                log_info("%s: written by block reuse: %zu blocks from local slots, %s fetched (index %s, dictionary %s, %zu range%s in %zu request%s)%s%s",
                         what, b.local, format_bytes(a, index_size + dict + received), format_bytes(c, index_size),
                         format_bytes(e, dict), n_ranges, n_ranges == 1 ? "" : "s", requests, requests == 1 ? "" : "s",
                         full != UINT64_MAX ? ", full image " : "", full != UINT64_MAX ? format_bytes(d, full) : "");
finish:
        ZSTD_freeDDict(b.dict);
        blocks_done(&b);
        return r;
}

int acquire_blocks_try(const struct resource *target, const struct instance *src, int fd, uint64_t offset,
                       uint64_t size, bool sync, const char *what) {
        struct block_index *idx = NULL;
        size_t index_size = 0;
        if (!src->index_url || !acquire_path_allowed("blocks"))
                return 0;
        int r = index_fetch(src, what, &idx, &index_size);
        if (r >= 0)
                r = blocks_apply(target, src, fd, offset, size, sync, what, idx, index_size);
        block_index_free(idx);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                log_warning("%s: block reuse failed, downloading the full image", what);
        return r > 0 ? 1 : 0;
}
