/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Boot assessment, the OS side of systemd-boot's boot counting (spec sysupdate.md 8.3,
 * repart-boot.md 4.7): the loader renames the booted entry "P+L-D.efi" to "P+(L-1)-(D+1).efi" and
 * records the new name in the EFI variable LoaderBootCountPath; once the system is up, the entry
 * is blessed ("P.efi", good) or marked bad ("P+0-D.efi"), which the loader sorts last. */

#include <stdbool.h>
#include <stdint.h>

#define LOADER_VENDOR_GUID "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
#define EFIVARFS_DEFAULT "/sys/firmware/efi/efivars"

/* A file name with a boot counter: PREFIX "+" LEFT ["-" DONE] SUFFIX. The counter is the last '+'
 * of the name and must be directly followed by the suffix (".efi"/".conf", any case). */
struct boot_counter {
        char *prefix; /* "appliance_2" */
        char *suffix; /* ".efi" */
        uint64_t left, done;
};
void boot_counter_done(struct boot_counter *c);
/* -EINVAL (not logged) if name has no valid counter. */
int boot_counter_parse(const char *name, struct boot_counter *ret);
/* The three names an entry can have: "P.efi", "P+0-D.efi" ("P+0.efi" when D is 0). */
char *boot_counter_good_name(const struct boot_counter *c);
char *boot_counter_bad_name(const struct boot_counter *c);

/* Reads a string EFI variable from an efivarfs directory: 4 attribute bytes, then UTF-16LE,
 * optionally NUL-terminated. Returns UTF-8. -ENOENT (not logged) if unset. */
int efivar_read_string(const char *efivarfs, const char *name, const char *guid, char **ret);

/* LoaderBootCountPath as an ESP-relative path with '/' ("/EFI/Linux/appliance_1+2-1.efi").
 * -ENOENT (not logged) if the variable is unset: boot counting is not active. */
int bless_read_count_path(const char *efivarfs, char **ret);

enum bless_state {
        BLESS_CLEAN,         /* no boot counting active for this boot */
        BLESS_GOOD,          /* entry renamed to its good name */
        BLESS_BAD,           /* entry renamed to its bad name */
        BLESS_INDETERMINATE, /* entry still carries the counter the loader gave it */
        BLESS_DIRTY,         /* as indeterminate, but no tries left: the loader will not pick it */
};
const char *bless_state_to_string(enum bless_state s);

/* The directory holding count_path among root + /efi, /boot, /boot/efi (the first one where the
 * entry exists under any of its names). esp overrides the search. -ENOENT (logged) if none. */
int bless_find_esp(const char *root, const char *esp, const char *count_path, char **ret);

/* State of the entry count_path (from bless_read_count_path) inside esp. */
int bless_get_state(const char *esp, const char *count_path, enum bless_state *ret);

/* Renames the entry to its good or bad name, or back to count_path (BLESS_INDETERMINATE). Renames
 * never replace an existing file; a second call is a no-op. The directory is fsynced. Returns 1 if
 * a rename happened, 0 if it was already in that state. */
int bless_mark(const char *esp, const char *count_path, enum bless_state target);

/* Runs every executable in root + /etc/abota/health.d and /usr/lib/abota/health.d (same name in
 * /etc wins, a symlink to /dev/null masks), sorted by name. Each failure is logged with the
 * check's last output line. Returns the number of failed checks (0 = healthy) or -errno. */
int health_checks_run(const char *root, unsigned *ret_n_run);
