/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Network settings of the device, /etc/abota/abota.conf (or $ABOTA_CONFIG): a CA file and
 * public-key pinning for fleets that do not trust the system CA store, per server or for all.
 *
 *   [Network]                          defaults for every server
 *   CAFile=/etc/abota/fleet-ca.pem
 *
 *   [Server]                           one section per server; URL= first
 *   URL=https://updates.example.com/   applies to URLs starting with this (the longest wins)
 *   CAFile=/etc/abota/updates-ca.pem
 *   PinnedPublicKey=sha256//BASE64[;sha256//BASE64...] or the path of a PEM/DER public key
 *
 * Proxies come from the environment (http_proxy, https_proxy, no_proxy), as libcurl reads it. */

#include <curl/curl.h>

#define NETCONF_PATH "/etc/abota/abota.conf"

struct netconf_settings {
        char *ca_file;           /* NULL: the system CA store */
        char *pinned_public_key; /* NULL: no pinning */
};

/* The settings for url from the config file ($ABOTA_CONFIG, else NETCONF_PATH; a missing file
 * means no settings). Errors name FILE:LINE and return -EINVAL. */
int netconf_for_url(const char *url, struct netconf_settings *ret);
void netconf_settings_done(struct netconf_settings *s);

/* The proxy libcurl takes from the environment for url, by its rules: scheme_proxy (for schemes
 * other than http also SCHEME_PROXY), else all_proxy or ALL_PROXY; none for a host that
 * no_proxy (or NO_PROXY) names ("*", a domain and its subdomains, an IP address or a CIDR range).
 * Returned with "http://" in front when it names no scheme, for messages; NULL when there is none
 * (or no memory). */
char *netconf_proxy_for_url(const char *url);

/* Applies them to a libcurl handle. */
int netconf_apply(CURL *curl, const struct netconf_settings *s);
