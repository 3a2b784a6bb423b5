/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Drives acquire_run() once, the way the update agent does for a partition slot, so that
 * bench/update-throughput can time and measure it (not installed; `meson compile acquire-bench`).
 *
 *     acquire-bench URL TARGET OFFSET SIZE_MAX [SHA256HEX] [--sync]
 *
 * Prints "downloaded=N written=N sha256=HEX" on success; exit status 1 on failure. */
#include "agent/acquire.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>

int main(int argc, char **argv) {
        uint64_t offset, size_max;
        uint8_t sha[32];
        bool have_sha = false, sync = false;
        if (argc < 5) {
                fprintf(stderr, "usage: %s URL TARGET OFFSET SIZE_MAX [SHA256HEX] [--sync]\n", argv[0]);
                return 2;
        }
        if (parse_size(argv[3], &offset) < 0 || parse_size(argv[4], &size_max) < 0) {
                fprintf(stderr, "acquire-bench: bad OFFSET or SIZE_MAX\n");
                return 2;
        }
        for (int i = 5; i < argc; i++) {
                if (streq(argv[i], "--sync"))
                        sync = true;
                else if (hex_parse(argv[i], sizeof(sha), sha) == 0)
                        have_sha = true;
                else {
                        fprintf(stderr, "acquire-bench: bad argument '%s'\n", argv[i]);
                        return 2;
                }
        }
        _cleanup_close_ int fd = open(argv[2], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
                log_error_errno(errno, "%s: %s", argv[2], strerror(errno));
                return 1;
        }
        struct acquire_request req = {
                .url = argv[1],
                .expected_sha256 = have_sha ? sha : NULL,
                .fd = fd,
                .offset = offset,
                .size_max = size_max,
                .sync = sync,
                .what = "bench",
                .progress = true,
        };
        struct acquire_result res;
        if (acquire_run(&req, &res) < 0)
                return 1;
        char hex[65];
        hex_format(res.sha256, sizeof(res.sha256), hex);
        printf("downloaded=%" PRIu64 " written=%" PRIu64 " sha256=%s\n", res.downloaded, res.written, hex);
        return 0;
}
