/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Temporary files of `abota publish`: created as DIR/.#NAME.XXXXXX, renamed into place once
 * written and fsynced, removed on failure. */

#define TEMP_PREFIX ".#"   /* temporary files: never listed, never served as a version */

/* Temporary files created so far, removed on failure. */
struct temp_files {
        int dir_fd;
        char **names;
};

void temp_files_cleanup(struct temp_files *t);
/* Creates DIR/.#NAME.XXXXXX (mode 0644, readable by the web server); returns fd and name. */
int temp_file_create(struct temp_files *t, const char *dir, const char *name, char **ret_name);
/* Renames the temporary file temp to name (logged on failure) and forgets it. */
int rename_into_place(struct temp_files *t, const char *dir, const char *temp, const char *name);
