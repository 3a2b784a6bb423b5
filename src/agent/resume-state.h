/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The resume state of one transfer's download (acquire-resume.c): a small text record (1 KiB,
 * padded), rewritten in place and fdatasync()ed at each checkpoint. It names what was being
 * written and how far: the bytes it counts were synced before the state was, into the target
 * (an uncompressed payload) or into the spool beside the state (a compressed one, as downloaded).
 * A final line holds the SHA-256 of the lines above it, so a record torn by a power loss during
 * its own write, or damaged otherwise, is ignored (the download starts over). The state only ever
 * says where to *try* to resume: the prefix it names is hashed again and compared with
 * prefix_sha256, and the whole download must still hash to the payload's SHA-256 of SHA256SUMS
 * before anything is committed. */

#include <stdbool.h>
#include <stdint.h>

#define RESUME_STATE_DIR "/var/lib/abota/resume"

/* What a download must match for its resume state to be used: the state file and the identity
 * of the download. */
struct resume_key {
        const char *state_path;
        const char *transfer;            /* the transfer's id */
        const char *version;             /* the version being installed */
        const char *target;              /* identity of the place written: disk, partition, UUID, place */
};

struct resume_state {
        char *transfer;             /* the transfer's id */
        char *version;              /* the version being installed */
        uint8_t payload_sha256[32]; /* of the payload, from SHA256SUMS */
        char *target;               /* identity of the place written: disk, partition, UUID, start, size */
        uint64_t done;              /* bytes of the payload written and fsynced */
        uint8_t prefix_sha256[32];  /* SHA-256 of those bytes */
        bool complete;              /* done is the whole payload (not committed yet) */
        /* The payload is compressed: done counts its bytes as downloaded, kept in the spool beside
         * the state (resume_spool_path()), and prefix_sha256 is theirs; the target's content is
         * not used on resume, the spool is decompressed into it again. */
        bool spool;
};

void resume_state_done(struct resume_state *s);

/* dir/TRANSFER.state (the transfer id made safe for a file name); NULL on OOM. */
char *resume_state_path(const char *dir, const char *transfer);

/* The spool beside the state at state_path: its ".state" replaced by ".part". NULL on OOM. */
char *resume_spool_path(const char *state_path);

/* Where the resume states of a device are: RESUME_STATE_DIR below root, that directory itself
 * when neither root nor image is given, none (*ret = NULL) for an image alone. 0 or -ENOMEM. */
int resume_state_dir(const char *root, const char *image, char **ret);

/* Removes the spools in dir that no state names any more (a run cut between the two removals),
 * logging each. */
void resume_dir_cleanup(const char *dir);

/* A regular-file target is named "file PATH" in a state: PATH, or NULL for other targets. */
const char *resume_state_file(const struct resume_state *s);

/* The file that the state of transfer in dir names as its target (a partial download that
 * RemoveTemporary= keeps), or NULL (none, or OOM). */
char *resume_state_kept_file(const char *dir, const char *transfer);

/* Reads path: 1 and *ret filled, 0 when there is none or it is unusable (logged at debug level),
 * -ENOMEM. */
int resume_state_load(const char *path, struct resume_state *ret);

/* Writes s to path durably (creating the file and its directory the first time): a record torn
 * by a cut reads back as no state. 0 or -errno, not logged. */
int resume_state_save(const char *path, const struct resume_state *s);

/* Removes path and the spool beside it (and syncs their directory). 0 when they were not there. */
int resume_state_remove(const char *path);
