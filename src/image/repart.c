/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Planning: definitions, the existing table, sizes, places, UUIDs and labels. Writing the plan
 * is repart-write.c. */
#include "repart.h"

#include "repart-plan.h"
#include "repart-write.h"

#include "base/log.h"
#include "base/parttype.h"
#include "repart-config.h"
#include "repart-disk.h"
#include "repart-encrypt.h"
#include "repart-format.h"
#include "repart-gpt.h"
#include "repart-layout.h"
#include "repart-uuid.h"
#include "repart-verity.h"
#include "base/specifier.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>


static void context_done(struct context *c) {
        for (size_t i = 0; i < c->n_parts; i++) {
                free(c->parts[i].label);
                free(c->parts[i].prebuilt);
        }
        free(c->parts);
        free(c->items);
        if (c->workdir)
                (void) rm_rf(c->workdir);
        free(c->workdir);
        gpt_table_done(&c->gpt);
        repart_definitions_done(&c->defs);
        specifier_context_free(c->spec);
        if (c->disk.fd >= 0)
                close(c->disk.fd);
}

static int acquire_seed(struct context *c) {
        const struct repart_options *o = c->o;
        if (o->seed_set) {
                memcpy(c->seed, o->seed, 16);
                return 0;
        }
        if (!o->seed_random) {
                _cleanup_free_ char *p = path_prefix_root(o->root, "/etc/machine-id");
                _cleanup_free_ char *s = NULL;
                if (!p)
                        return -ENOMEM;
                if (read_full_file(p, 4096, &s, NULL) >= 0) {
                        s[strcspn(s, "\n")] = 0;
                        if (strlen(s) == 32 && uuid_parse(s, c->seed) >= 0)
                                return 0;
                }
        }
        if (RAND_bytes(c->seed, 16) != 1)
                return log_error_errno(EIO, "cannot get random bytes for the seed");
        return 0;
}

static int disk_open(struct context *c) {
        const struct repart_options *o = c->o;
        struct disk *d = &c->disk;
        struct stat st;

        d->path = o->image;
        if (o->empty == REPART_EMPTY_CREATE) {
                if (o->dry_run) {
                        if (access(o->image, F_OK) >= 0)
                                return log_error_errno(EEXIST, "%s: already exists (--empty=create)", o->image);
                        d->fd = -1;
                        d->sector_size = 512;
                        d->size = 0;
                        return 0;
                }
                d->fd = open(o->image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (d->fd < 0)
                        return log_error_errno(errno, "%s: cannot create: %s%s", o->image, strerror(errno),
                                               errno == EEXIST ? " (--empty=create)" : "");
                d->created = d->remove_on_failure = true;
        } else {
                int flags = (o->dry_run ? O_RDONLY : O_RDWR) | O_CLOEXEC;
                d->fd = -1;
                /* force may create the file; a failed run then removes it again */
                if (o->empty == REPART_EMPTY_FORCE && !o->dry_run) {
                        d->fd = open(o->image, flags | O_CREAT | O_EXCL, 0644);
                        d->remove_on_failure = d->fd >= 0;
                }
                if (d->fd < 0)
                        d->fd = open(o->image, flags, 0644);
                if (d->fd < 0)
                        return log_error_errno(errno, "%s: cannot open: %s", o->image, strerror(errno));
        }
        if (fstat(d->fd, &st) < 0)
                return log_error_errno(errno, "%s: %s", o->image, strerror(errno));
        if (S_ISBLK(st.st_mode)) {
                int ss;
                d->is_block = true;
                if (ioctl(d->fd, BLKGETSIZE64, &d->size) < 0 || ioctl(d->fd, BLKSSZGET, &ss) < 0)
                        return log_error_errno(errno, "%s: cannot get the device size: %s", o->image, strerror(errno));
                d->sector_size = (uint32_t) ss;
        } else if (S_ISREG(st.st_mode)) {
                d->size = (uint64_t) st.st_size;
                d->sector_size = 512;
        } else
                return log_error_errno(EINVAL, "%s: neither a regular file nor a block device", o->image);
        if (!o->dry_run && flock(d->fd, LOCK_EX | LOCK_NB) < 0)
                return log_error_errno(errno, "%s: in use by another process: %s", o->image, strerror(errno));
        return 0;
}

static int read_table(struct context *c) {
        const struct repart_options *o = c->o;
        struct disk *d = &c->disk;
        struct repart_disk_probe probe = {};
        int r = 0;

        /* force and create never look at what is there (with --dry-run the new file may not exist) */
        if (o->empty != REPART_EMPTY_CREATE && o->empty != REPART_EMPTY_FORCE)
                r = repart_disk_probe(d->fd, d->path, d->sector_size, d->size, &probe);
        if (r >= 0)
                r = repart_disk_check_empty(&probe, d->path, o->empty, &c->fresh);
        if (r < 0 || c->fresh)
                return r;
        r = repart_gpt_read(d->fd, d->path, d->sector_size, d->size, &c->gpt);
        if (r < 0)
                return r;
        d->keep_mbr = probe.hybrid;
        return 0;
}

/* p.slot >= 0: the existing partition in that GPT slot, with its entry and label. */
static int add_part(struct context *c, struct part p) {
        if (p.slot >= 0) {
                p.exists = true;
                p.entry = c->gpt.entries[p.slot];
                p.label = gpt_label_decode(p.entry.name);
                if (!p.label)
                        return -ENOMEM;
        }
        struct part *n = realloc(c->parts, sizeof(*n) * (c->n_parts + 1));
        if (!n) {
                free(p.label);
                return -ENOMEM;
        }
        c->parts = n;
        n[c->n_parts++] = p;
        return 0;
}

/* An existing partition belongs to the first definition of the same type, in file order, that
 * has none yet; what is left over is foreign. */
static int match_partitions(struct context *c) {
        size_t nd = c->defs.n;
        _cleanup_free_ int *owner = malloc(sizeof(int) * (nd + 1));
        int r;

        if (!owner)
                return -ENOMEM;
        for (size_t i = 0; i < nd; i++)
                owner[i] = -1;
        _cleanup_free_ bool *claimed = calloc(c->fresh ? 1 : c->gpt.n_entries + 1, sizeof(bool));
        if (!claimed)
                return -ENOMEM;
        if (!c->fresh)
                for (uint32_t s = 0; s < c->gpt.n_entries; s++) {
                        if (!gpt_entry_is_used(&c->gpt.entries[s]))
                                continue;
                        for (size_t i = 0; i < nd; i++)
                                if (owner[i] < 0 && memcmp(c->defs.items[i].type, c->gpt.entries[s].type, 16) == 0) {
                                        owner[i] = (int) s;
                                        claimed[s] = true;
                                        break;
                                }
                }
        for (size_t i = 0; i < nd; i++) {
                r = add_part(c, (struct part) { .def = &c->defs.items[i], .def_index = i, .slot = owner[i] });
                if (r < 0)
                        return r;
        }
        if (!c->fresh)
                for (uint32_t s = 0; s < c->gpt.n_entries; s++) {
                        if (claimed[s] || !gpt_entry_is_used(&c->gpt.entries[s]))
                                continue;
                        r = add_part(c, (struct part) { .slot = (int) s });
                        if (r < 0)
                                return r;
                }
        return 0;
}




/* What the content of a new partition needs, before sizes are decided: the size of CopyBlocks=
 * sources; Minimize= file systems get a scratch file (built by build_prebuilt()). */
static int measure_payloads(struct context *c) {
        for (size_t i = 0; i < c->n_parts; i++) {
                struct part *p = &c->parts[i];
                if (p->exists || !p->def)
                        continue;
                const struct repart_definition *d = p->def;
                if (d->copy_blocks) {
                        struct stat st;
                        _cleanup_close_ int fd = open(d->copy_blocks, O_RDONLY | O_CLOEXEC);
                        if (fd < 0 || fstat(fd, &st) < 0)
                                return log_error_errno(errno, "%s: CopyBlocks=%s: %s", d->path, d->copy_blocks,
                                                       strerror(errno));
                        if (S_ISBLK(st.st_mode)) {
                                if (ioctl(fd, BLKGETSIZE64, &p->payload) < 0)
                                        return log_error_errno(errno, "%s: CopyBlocks=%s: %s", d->path,
                                                               d->copy_blocks, strerror(errno));
                        } else
                                p->payload = (uint64_t) st.st_size;
                }
                if (d->minimize == REPART_MINIMIZE_BEST) {
                        int r = repart_ensure_workdir(c);
                        if (r < 0)
                                return r;
                        p->prebuilt = strprintf("%s/part-%zu.img", c->workdir, i);
                        if (!p->prebuilt)
                                return -ENOMEM;
                }
        }
        return 0;
}

static int fill_items(struct context *c) {
        uint64_t g = repart_grain(c);
        c->items = calloc(c->n_parts + 1, sizeof(*c->items));
        if (!c->items)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_parts; i++) {
                const struct part *p = &c->parts[i];
                const struct repart_definition *d = p->def;
                struct repart_layout_item *it = &c->items[i];
                uint64_t ss = c->disk.sector_size;

                it->exists = p->exists;
                it->foreign = !d;
                it->weight = d ? d->weight : 0;
                it->padding_weight = d ? d->padding_weight : 0;
                it->priority = d ? d->priority : 0;
                it->max_size = d && d->size_max != REPART_SIZE_UNSET ? repart_round_down(d->size_max, g) : UINT64_MAX;
                it->min_padding = d && d->padding_min != REPART_SIZE_UNSET ? repart_round_up(d->padding_min, g) : 0;
                it->max_padding = d && d->padding_max != REPART_SIZE_UNSET ? repart_round_down(d->padding_max, g)
                                                                            : UINT64_MAX;
                if (it->max_padding < it->min_padding)
                        it->max_padding = it->min_padding;
                uint64_t min = d ? repart_round_up(d->size_min != REPART_SIZE_UNSET ? d->size_min : REPART_DEFAULT_MIN, g)
                                 : 0;
                if (p->exists) {
                        /* An existing partition holds a file system as large as itself: it never
                         * goes below its current size, whatever the definition says now; it grows
                         * to the definition's minimum, as in systemd-repart. */
                        it->current_offset = p->entry.first_lba * ss;
                        it->current_size = (p->entry.last_lba - p->entry.first_lba + 1) * ss;
                        it->min_size = min > it->current_size ? min : it->current_size;
                        if (it->max_size < it->min_size)
                                it->max_size = it->min_size;
                        it->slot = p->slot;
                        continue;
                }
                uint64_t need = repart_round_up(p->payload, g);
                if (d->format == REPART_FORMAT_EXT4 && need < 1024 * 1024)
                        need = 1024 * 1024;
                need += repart_encrypt_overhead(d);
                if (need > min)
                        min = need;
                if (min < REPART_HARD_MIN)
                        min = REPART_HARD_MIN;
                if (it->max_size < need) {
                        char a[16], b[16];
                        return log_error_errno(EFBIG, "%s: needs at least %s, more than SizeMaxBytes= (%s)", d->path,
                                               format_bytes(a, need), format_bytes(b, it->max_size));
                }
                /* The (default) minimum beats a smaller SizeMaxBytes=, as in systemd-repart. */
                if (it->max_size < min)
                        it->max_size = min;
                it->min_size = min;
        }
        return 0;
}

/* The disk size for --size=: files that get a new GPT (new, without one, or --empty=force) get
 * exactly it (auto: the minimum), files with a GPT only grow; block devices keep theirs. */
static int decide_size(struct context *c, uint64_t *ret) {
        const struct repart_options *o = c->o;
        uint64_t size = c->disk.size;

        if (c->disk.is_block) {
                if (o->size_auto || o->size != UINT64_MAX)
                        log_warning("%s: is a block device, ignoring --size=", c->disk.path);
                *ret = size;
                return 0;
        }
        if (o->size_auto) {
                uint64_t end = 0, g = repart_grain(c);
                for (size_t i = 0; i < c->n_parts; i++)
                        if (c->parts[i].exists) {
                                uint64_t e = repart_round_up(c->items[i].current_offset + c->items[i].current_size, g);
                                if (e > end)
                                        end = e;
                        }
                uint64_t want = repart_layout_auto_size(c->items, c->n_parts);
                if (end > 1024 * 1024 && __builtin_add_overflow(want, end - 1024 * 1024, &want))
                        want = UINT64_MAX;
                size = c->fresh ? want : (want > size ? want : size);
        } else if (o->size != UINT64_MAX) {
                uint64_t want = repart_round_up(o->size, REPART_GRAIN);
                size = c->fresh || want > size ? want : size;
        }
        if (size == 0)
                return log_error_errno(EINVAL, "%s: the image is empty, give --size=", c->disk.path);
        if (size > INT64_MAX) {
                char a[16];
                return log_error_errno(EFBIG, "%s: the image would be larger than a file can be (%s)", c->disk.path,
                                       size == UINT64_MAX ? "over 16 EiB" : format_bytes(a, size));
        }
        *ret = size;
        return 0;
}

static bool uuid_in_use(const struct context *c, size_t self, const uint8_t u[16]) {
        for (size_t i = 0; i < c->n_parts; i++)
                if (i != self && !c->items[i].dropped && memcmp(c->parts[i].entry.uuid, u, 16) == 0)
                        return true;
        return false;
}

static bool label_in_use(const struct context *c, size_t self, const char *l) {
        for (size_t i = 0; i < c->n_parts; i++)
                if (i != self && !c->items[i].dropped && streq_ptr(c->parts[i].label, l))
                        return true;
        return false;
}

/* UUIDs and labels of the new partitions (spec 1.7, 1.8). */
static int assign_identities(struct context *c) {
        for (size_t i = 0; i < c->n_parts; i++) {
                struct part *p = &c->parts[i];
                if (p->exists || c->items[i].dropped)
                        continue;
                const struct repart_definition *d = p->def;
                memcpy(p->entry.type, d->type, 16);
                if (d->has_uuid)
                        memcpy(p->entry.uuid, d->uuid, 16);
                else {
                        uint64_t k = 0;
                        for (size_t j = 0; j < p->def_index; j++)
                                if (memcmp(c->defs.items[j].type, d->type, 16) == 0)
                                        k++;
                        int r = repart_uuid_partition(c->seed, d->type, k, p->entry.uuid);
                        if (r < 0)
                                return log_error_errno(r, "%s: cannot derive the partition UUID", d->path);
                        if (uuid_in_use(c, i, p->entry.uuid)) {
                                log_warning("%s: UUID derived from the seed is already in use, using a random one", d->path);
                                if (RAND_bytes(p->entry.uuid, 16) != 1)
                                        return -EIO;
                                p->entry.uuid[6] = (p->entry.uuid[6] & 0x0F) | 0x40;
                                p->entry.uuid[8] = (p->entry.uuid[8] & 0x3F) | 0x80;
                        }
                }
                if (d->label)
                        p->label = strdup(d->label);
                else {
                        _cleanup_free_ char *base = repart_type_name(d->type);
                        if (!base)
                                return -ENOMEM;
                        p->label = strdup(base);
                        for (unsigned n = 2; p->label && label_in_use(c, i, p->label); n++) {
                                free(p->label);
                                p->label = strprintf("%s-%u", base, n);
                        }
                }
                if (!p->label)
                        return -ENOMEM;
                if (gpt_label_encode(p->label, p->entry.name) < 0)
                        return log_error_errno(EINVAL, "%s: label '%s' does not fit a GPT entry", d->path, p->label);
                p->entry.flags = repart_definition_flags(d);
        }
        return 0;
}

static bool minimized(const struct part *p) {
        return !p->exists && p->def && p->def->minimize != REPART_MINIMIZE_OFF;
}

/* Minimize=: read-only file systems are built now and copied later as they are; writable ones
 * are measured now and built later into the size the plan gives them. */
static int build_prebuilt(struct context *c) {
        for (size_t i = 0; i < c->n_parts; i++) {
                struct part *p = &c->parts[i];
                if (!minimized(p))
                        continue;
                struct repart_format_request req;
                int r = repart_ensure_workdir(c);
                if (r < 0)
                        return r;
                r = repart_fs_request(c, p, UINT64_MAX, &req);
                if (r < 0)
                        return r;
                if (p->prebuilt)
                        r = repart_format_build(&req, p->prebuilt, &p->payload);
                else {
                        _cleanup_free_ char *scratch = strprintf("%s/guess-%zu.img", c->workdir, i);
                        r = scratch ? repart_format_guess_size(&req, scratch, &p->payload) : -ENOMEM;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static char *node_name(const struct context *c, unsigned partno) {
        /* systemd-repart names an image it did not create by its absolute path */
        bool existing = c->disk.fd >= 0 && !c->disk.created && !c->disk.is_block;
        _cleanup_free_ char *abs = existing ? realpath(c->disk.path, NULL) : NULL;
        const char *d = abs ? abs : c->disk.path;
        size_t n = strlen(d);
        bool digit = n > 0 && d[n - 1] >= '0' && d[n - 1] <= '9';
        return strprintf("%s%s%u", d, c->disk.is_block && digit ? "p" : "", partno + 1);
}

static int fill_result(struct context *c, struct repart_result *res) {
        for (size_t i = 0; i < c->defs.n; i++)
                res->verity = res->verity || c->defs.items[i].verity != REPART_VERITY_OFF;
        res->partitions = calloc(c->n_parts + 1, sizeof(*res->partitions));
        if (!res->partitions)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_parts; i++) {
                struct part *p = &c->parts[i];
                struct repart_layout_item *it = &c->items[i];
                if (it->dropped)
                        continue;
                unsigned partno = (unsigned) (p->exists ? it->slot : it->new_slot);
                struct repart_result_partition *o = &res->partitions[res->n++];
                o->partno = partno;
                o->type = repart_type_name(p->entry.type);
                /* systemd-repart shows an unnamed partition under its type's name */
                o->label = strdup(!isempty(p->label) ? p->label : o->type ? o->type : "");
                memcpy(o->uuid, p->entry.uuid, 16);
                o->file = strdup(p->def ? p->def->file_name : "-");
                o->node = node_name(c, partno);
                o->offset = it->offset;
                o->old_size = p->exists ? it->current_size : 0;
                o->new_size = it->new_size;
                o->old_padding = p->exists ? it->current_padding : 0;
                o->new_padding = it->new_padding;
                o->activity = !p->exists ? "create" : it->new_size != it->current_size ? "resize" : "unchanged";
                if (!streq(o->activity, "unchanged"))
                        res->changed = true;
                if (!o->type || !o->label || !o->file || !o->node)
                        return -ENOMEM;
                int r = repart_split_path(c, p, partno, &o->split_path);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < res->n; i++)
                for (size_t j = 0; j < i; j++)
                        if (res->partitions[i].split_path && streq_ptr(res->partitions[i].split_path, res->partitions[j].split_path))
                                return log_error_errno(EEXIST, "%s, %s: both split into %s, set distinct SplitName=",
                                                       res->partitions[j].file, res->partitions[i].file,
                                                       res->partitions[i].split_path);
        return 0;
}

static int load_definitions(struct context *c) {
        int r = specifier_context_new(c->o->root, &c->spec);
        if (r < 0)
                return r;
        unsigned warnings = log_warning_count();
        r = repart_definitions_load(c->o->root, c->o->definitions, c->spec, &c->defs);
        if (r >= 0 && c->o->strict && log_warning_count() > warnings)
                return log_error_errno(EINVAL, "--strict: %u warning(s) about the repart.d definitions, refusing",
                                       log_warning_count() - warnings);
        return r;
}

/* Minimized file systems are built now; their size is the partition's minimum. */
static int apply_prebuilt_sizes(struct context *c) {
        for (size_t i = 0; i < c->n_parts; i++) {
                if (!minimized(&c->parts[i]))
                        continue;
                uint64_t need = repart_round_up(c->parts[i].payload + repart_encrypt_overhead(c->parts[i].def),
                                                repart_grain(c));
                if (need > c->items[i].min_size)
                        c->items[i].min_size = need;
                if (c->items[i].max_size < need)
                        return log_error_errno(EFBIG, "%s: the minimized file system does not fit SizeMaxBytes=",
                                               c->parts[i].def->path);
        }
        return 0;
}

static int plan_layout(struct context *c) {
        int r = decide_size(c, &c->size);
        if (r < 0)
                return r;
        uint64_t ss = c->disk.sector_size;
        if (c->fresh) {
                uint8_t guid[16];
                r = repart_uuid_disk(c->seed, guid);
                if (r < 0)
                        return r;
                r = repart_gpt_new(c->disk.sector_size, c->size / ss, guid, &c->gpt);
                if (r < 0)
                        return log_error_errno(r, "%s: too small for a GPT", c->o->image);
        } else if (c->size != c->disk.size) {
                uint64_t es = (c->gpt.n_entries * UINT64_C(128) + ss - 1) / ss;
                c->gpt.n_sectors = c->size / ss;
                c->gpt.last_usable = c->gpt.n_sectors - 2 - es;
        }
        r = repart_layout_place(c->items, c->n_parts, c->gpt.first_usable * ss, (c->gpt.last_usable + 1) * ss,
                                repart_grain(c));
        if (r == -ENOSPC) {
                char a[16];
                return log_error_errno(ENOSPC, "%s: the partitions do not fit into the free space (disk %s)",
                                       c->o->image, format_bytes(a, c->size));
        }
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_parts; i++)
                if (c->items[i].dropped)
                        log_notice("%s: dropped, it does not fit (Priority=%" PRIi64 ")", c->parts[i].def->path,
                                   c->parts[i].def->priority);
        return 0;
}

static int check_encrypt(struct context *c) {
        return repart_encrypt_check(&c->defs, c->o->key_file);
}

/* Verity=: each pair is complete in the definitions (after match_partitions(), part i is
 * definition i). */
static int pair_verity(struct context *c) {
        _cleanup_free_ size_t *partner = calloc(c->defs.n + 1, sizeof(size_t));
        if (!partner)
                return -ENOMEM;
        int r = repart_verity_pair(&c->defs, partner);
        for (size_t i = 0; i < c->defs.n && r >= 0; i++)
                c->parts[i].verity_partner = partner[i];
        return r;
}

/* Both partitions of a pair are new (or both exist), and the hash tree fits. */
static int check_verity_layout(struct context *c) {
        for (size_t i = 0; i < c->defs.n; i++) {
                const struct part *h = &c->parts[i];
                if (h->def->verity != REPART_VERITY_HASH)
                        continue;
                const struct part *d = &c->parts[h->verity_partner];
                if (h->exists != d->exists)
                        return log_error_errno(EINVAL, "%s, %s: one partition of the verity pair exists already, the "
                                               "other not; refusing to pair a new hash tree with old data",
                                               h->def->path, d->def->path);
                if (c->items[i].dropped != c->items[h->verity_partner].dropped)
                        return log_error_errno(ENOSPC, "%s, %s: only one partition of the verity pair fits",
                                               h->def->path, d->def->path);
                uint64_t need = repart_verity_hash_size(c->items[h->verity_partner].new_size);
                if (!h->exists && !c->items[i].dropped && need > c->items[i].new_size) {
                        char a[16], b[16];
                        return log_error_errno(EFBIG, "%s: the hash tree of %s needs %s, the partition gets %s "
                                               "(raise SizeMinBytes=)", h->def->path, d->def->file_name,
                                               format_bytes(a, need), format_bytes(b, c->items[i].new_size));
                }
        }
        return 0;
}

/* Planning: no step writes to the target disk. Identities come before the Minimize= builds,
 * which need the file system UUID and label. */
static int (*const plan_steps[])(struct context *c) = {
        load_definitions, acquire_seed, disk_open,     read_table,           match_partitions,
        check_encrypt, pair_verity, measure_payloads, fill_items, assign_identities, build_prebuilt,
        apply_prebuilt_sizes, plan_layout, check_verity_layout,
};

int repart_run(const struct repart_options *o, struct repart_result *ret) {
        struct context c = { .o = o, .disk.fd = -1 };
        struct repart_result res = {};
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(plan_steps) && r >= 0; i++)
                r = plan_steps[i](&c);
        if (r >= 0)
                r = fill_result(&c, &res);
        if (r >= 0) {
                res.disk_size = c.size;
                if (c.size != c.disk.size)
                        res.changed = true;
                if (!o->dry_run)
                        r = repart_write(&c, &res);
        }
        context_done(&c);
        if (r < 0) {
                if (c.disk.remove_on_failure)
                        (void) unlink(o->image);
                repart_result_done(&res);
                return r;
        }
        *ret = res;
        return 0;
}
