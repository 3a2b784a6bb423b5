/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The sd_notify protocol (spec sysupdate.md 10.3): state lines such as "STATUS=Making room for
 * '2'." sent as one datagram to $NOTIFY_SOCKET when the service manager set it. Without the
 * variable nothing happens; a failure to send only logs at debug level (status is advisory). A
 * send never blocks: when the receiver's queue is full, the message is dropped. */

void notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
