# SPDX-License-Identifier: LGPL-2.1-or-later
"""Network settings: /etc/abota/abota.conf ($ABOTA_CONFIG) gives a CA file and public-key pinning,
for all servers ([Network]) or per server ([Server] URL=), against a real HTTPS server on
127.0.0.1 with a self-signed certificate the system CA store does not know."""
import base64
import hashlib
import os
import subprocess

import pytest

from agent_env import Appliance, Server


def make_cert(d, name):
    key, cert = d / f"{name}.key", d / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=der, check=True,
                         capture_output=True).stdout
    pin = "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()
    return cert, key, pin


@pytest.fixture
def tls(tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, key, pin = make_cert(certs, "server")
    other, _, other_pin = make_cert(certs, "other")
    a = Appliance(tmp_path)
    a.server = Server(a.server_dir, tmp_path).start("--tls-cert", cert, "--tls-key", key)
    url = f"https://127.0.0.1:{a.server.port}/"
    a.set_url(url)
    a.publish("2")
    a.conf = tmp_path / "abota.conf"
    a.env = dict(os.environ, ABOTA_CONFIG=str(a.conf))
    yield a, url, cert, pin, other, other_pin
    a.server.stop()


def check_new(abota, a):
    return abota(*a.args("check-new"), env=a.env, check=False)


def test_system_store_refuses_self_signed(abota, tls):
    a, *_ = tls
    r = check_new(abota, a)  # no config file: the system CA store
    assert r.returncode == 1 and r.stdout == ""
    assert "TLS failure" in r.stderr or "certificate" in r.stderr


def test_ca_file(abota, tls):
    a, url, cert, pin, other, other_pin = tls
    a.conf.write_text(f"[Network]\nCAFile={cert}\n")
    r = check_new(abota, a)
    assert r.returncode == 0 and r.stdout == "2\n", r.stderr
    before = a.snapshot()
    abota(*a.args("update"), env=a.env)
    assert "store_2" in a.labels() and a.snapshot() != before
    # a CA that did not sign the server's certificate
    a.conf.write_text(f"[Network]\nCAFile={other}\n")
    assert check_new(abota, a).returncode == 1


def test_pinning(abota, tls):
    a, url, cert, pin, other, other_pin = tls
    a.conf.write_text(f"[Network]\nCAFile={cert}\nPinnedPublicKey={other_pin}\n")
    r = check_new(abota, a)
    assert r.returncode == 1
    assert "public key does not match pinned public key" in r.stderr
    before = a.snapshot()
    assert abota(*a.args("update"), env=a.env, check=False).returncode == 1
    assert a.snapshot() == before
    a.conf.write_text(f"[Network]\nCAFile={cert}\nPinnedPublicKey={other_pin};{pin}\n")
    assert check_new(abota, a).stdout == "2\n"


def test_per_server(abota, tls):
    a, url, cert, pin, other, other_pin = tls
    # the [Server] whose URL matches (longest) overrides [Network]; others do not apply
    a.conf.write_text(f"[Network]\nCAFile={other}\n\n"
                      f"[Server]\nURL=https://127.0.0.1:1/\nCAFile={cert}\n\n"
                      f"[Server]\nURL={url}\nCAFile={cert}\nPinnedPublicKey={pin}\n\n"
                      f"[Server]\nURL=https://127.0.0.1:{a.server.port}/other/\nPinnedPublicKey={other_pin}\n")
    r = check_new(abota, a)
    assert r.returncode == 0 and r.stdout == "2\n", r.stderr
    a.conf.write_text(f"[Network]\nCAFile={cert}\n\n[Server]\nURL={url}\nPinnedPublicKey={other_pin}\n")
    assert check_new(abota, a).returncode == 1


@pytest.mark.parametrize("text,reason", [
    ("[Network]\nCAFile=relative.pem\n", "abota.conf:2: CAFile=relative.pem: expected an absolute path"),
    ("[Network]\nCAFile=/nonexistent.pem\n", "abota.conf:2: CAFile=/nonexistent.pem: No such file or directory"),
    ("[Network]\nPinnedPublicKey=sha256//short\n", "abota.conf:2: PinnedPublicKey=sha256//short: expected"),
    ("[Network]\nProxy=x\n", "abota.conf:2: unknown key Proxy= in [Network]"),
    ("[Servers]\nURL=https://x/\n", "abota.conf:2: unknown section [Servers] (expected [Network] or [Server])"),
    ("[Server]\nCAFile=/etc/hostname\n", "abota.conf:2: CAFile= in [Server] before its URL="),
    ("[Server]\nURL=ftp://x/\n", "abota.conf:2: URL=ftp://x/: expected an http:// or https:// URL"),
    ("[Server]\nURL=https://a/\nCAFile=/etc/hostname\n[Server]\nCAFile=/etc/hostname\n",
     "abota.conf:5: CAFile= given twice for URL=https://a/ (each [Server] starts with URL=)"),
])
def test_config_errors(abota, tls, text, reason):
    a, *_ = tls
    a.conf.write_text(text)
    r = check_new(abota, a)
    assert r.returncode == 1
    assert reason in r.stderr, r.stderr
