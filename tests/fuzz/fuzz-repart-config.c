/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The repart.d parser (repart_definitions_load()) on one arbitrary definition file. Invariants:
 * it loads exactly that one definition or fails with a parse error (an empty file masks, so there
 * is none: -ENOENT); a loaded definition keeps the
 * documented ranges (sizes at most 4 EiB or unset, minimum <= maximum, weights, priority), its
 * label fits a GPT entry, paths are absolute, and the combinations that are refused never load. */
#include "fuzz.h"

#include "base/gpt.h"
#include "base/log.h"
#include "base/specifier.h"
#include "base/util.h"
#include "image/repart-config.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <unistd.h>

static struct specifier_context *specifiers;
static char dir[] = "/tmp/fuzz-repart-config-XXXXXX";
static char *file;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        log_set_max_level((enum log_level) 0);
        if (!mkdtemp(dir) || !(file = path_join(dir, "10-fuzz.conf")))
                return 1;
        return specifier_context_new("/", &specifiers) < 0;
}

static bool size_ok(uint64_t v) {
        return v == REPART_SIZE_UNSET || v <= REPART_SIZE_MAX;
}

static void check(const struct repart_definition *d) {
        FUZZ_ASSERT(size_ok(d->size_min) && size_ok(d->size_max) && size_ok(d->padding_min) && size_ok(d->padding_max),
                    "size out of range");
        if (d->size_min != REPART_SIZE_UNSET && d->size_max != REPART_SIZE_UNSET)
                FUZZ_ASSERT(d->size_min <= d->size_max, "SizeMinBytes > SizeMaxBytes");
        if (d->padding_min != REPART_SIZE_UNSET && d->padding_max != REPART_SIZE_UNSET)
                FUZZ_ASSERT(d->padding_min <= d->padding_max, "PaddingMinBytes > PaddingMaxBytes");
        FUZZ_ASSERT(d->weight <= REPART_WEIGHT_MAX && d->padding_weight <= REPART_WEIGHT_MAX, "weight");
        FUZZ_ASSERT(d->priority >= -1000 && d->priority <= 1000, "priority %" PRIi64, d->priority);
        FUZZ_ASSERT(d->format < _REPART_FORMAT_MAX && repart_format_to_string(d->format), "format %d", d->format);
        if (d->label) {
                uint16_t name[GPT_LABEL_MAX];
                FUZZ_ASSERT(*d->label && gpt_label_encode(d->label, name) == 0, "label \"%s\"", d->label);
        }
        for (size_t i = 0; i < d->n_copy_files; i++)
                FUZZ_ASSERT(path_is_absolute(d->copy_files[i].source) && path_is_absolute(d->copy_files[i].target),
                            "CopyFiles= %s:%s", d->copy_files[i].source, d->copy_files[i].target);
        for (size_t i = 0; d->make_directories && d->make_directories[i]; i++)
                FUZZ_ASSERT(path_is_absolute(d->make_directories[i]), "%s", d->make_directories[i]);
        if (d->copy_blocks)
                FUZZ_ASSERT(d->format == REPART_FORMAT_NONE && d->n_copy_files == 0 && !d->make_directories,
                            "CopyBlocks= combined");
        if (repart_format_is_read_only(d->format))
                FUZZ_ASSERT(d->n_copy_files > 0 || d->make_directories, "read-only file system without a tree");
        if (d->minimize != REPART_MINIMIZE_OFF)
                FUZZ_ASSERT(d->format != REPART_FORMAT_NONE, "Minimize= without Format=");
        (void) repart_definition_flags(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t) size))
                return 0;
        char *dirs[] = { dir, NULL };
        struct repart_definitions defs = {};
        int r = repart_definitions_load(NULL, dirs, specifiers, &defs);
        FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -ERANGE || r == -EOPNOTSUPP || r == -EBADMSG || r == -E2BIG ||
                    r == -EFBIG || r == -ENOMEM || (r == -ENOENT && size == 0), "%d", r);
        if (r == 0) {
                FUZZ_ASSERT(defs.n == 1, "%zu definitions", defs.n);
                check(&defs.items[0]);
        }
        repart_definitions_done(&defs);
        return 0;
}
