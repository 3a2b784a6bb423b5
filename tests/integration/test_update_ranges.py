# SPDX-License-Identifier: LGPL-2.1-or-later
"""How block reuse fetches the missing blocks: many ranges per request (RFC 9110 §14, a
multipart/byteranges answer), whatever the server makes of them — parts in another order, ranges
merged, one part covering them all, only the first range, the whole file, a limit on ranges,
a malformed answer — and against a real lighttpd. The written slot always hashes to the image."""
import hashlib
import math
import random
import shutil
import sys

import pytest

from agent_env import REPO, Appliance, logged_appliance, slot_bytes
from agent_env import Server as AgentServer
from test_update_blocks import publish, ranges
from test_update_patch import edit, gets

sys.path.insert(0, str(REPO / "examples" / "appliance"))
from vm import Server  # noqa: E402


@pytest.fixture
def app(tmp_path):
    a = logged_appliance(tmp_path)
    yield a
    a.server.stop()


def count(rng):
    """The ranges of one Range header value."""
    return rng.removeprefix("bytes=").count(",") + 1


def published(abota, app, tmp_path):
    publish(abota, app, tmp_path, "1", app.v1)
    v2 = edit(app.v1, 2)
    publish(abota, app, tmp_path, "2", v2)
    return v2


def installed(app, v2):
    slot = slot_bytes(app.disk, "store_2")[:len(v2)]
    return hashlib.sha256(slot).hexdigest() == hashlib.sha256(v2).hexdigest()


@pytest.mark.parametrize("options,answered,fallback", [
    ([], None, None),
    (["--multi-range", "reverse"], None, None),
    (["--multi-range", "merge"], None, None),
    (["--multi-range", "span"], None, None),
    (["--multi-range", "first"], 1, "with only 1 of them: asking for one range per request"),
    (["--multi-range", "whole"], 0, "with the whole file: asking for one range per request"),
    (["--max-ranges", "3"], 0, "with the whole file: asking for one range per request"),
    (["--max-parts", "3"], 3, "with only 3 of them: asking for at most 3 ranges per request"),
])
def test_server_answers(abota, app, tmp_path, options, answered, fallback):
    """One request for all the missing blocks. A server that answers it with the whole file is cut
    off at once and asked one range per request; one that answers only some of the ranges is
    asked for no more than it answered."""
    v2 = published(abota, app, tmp_path)
    app.server.start("--log", app.log, *options)
    app.set_url(app.server.url)
    r = abota(*app.args("update"))
    assert "written by block reuse" in r.stderr, r.stderr
    assert installed(app, v2)
    assert "/appliance_2.store.raw" not in gets(app)
    got = ranges(app)
    asked = count(got[0])
    assert 4 <= asked <= 40  # 20 edits
    if not fallback:
        assert len(got) == 1
        assert "asking for one range per request" not in r.stderr
        return
    assert f"the server answers a request for {asked} ranges {fallback}" in r.stderr
    per_request = max(answered, 1)
    assert all(count(g) <= per_request for g in got[1:])
    assert len(got) == 1 + math.ceil((asked - answered) / per_request)


def test_many_ranges_take_several_requests(abota, app, tmp_path, monkeypatch):
    """At most 100 ranges and 4000 bytes of Range header per request."""
    monkeypatch.setenv("ABOTA_PATH", "blocks")  # half the blocks: the full image would cost less
    v1 = random.Random(1).randbytes(len(app.v1))  # frames of 4 KiB: no two ranges merge
    app.write_slot("store_1", v1)
    publish(abota, app, tmp_path, "1", v1)
    v2 = bytearray(v1)
    for at in range(0, len(v2), 2 * 4096):  # every other block: one range each
        v2[at] ^= 0xff
    v2 = bytes(v2)
    publish(abota, app, tmp_path, "2", v2)
    r = abota(*app.args("update"))
    assert "written by block reuse" in r.stderr
    assert installed(app, v2)
    got = ranges(app)
    total = sum(count(g) for g in got)
    assert total == len(app.v1) // (2 * 4096)
    assert total > 200
    assert len(got) == math.ceil(total / 100)
    assert all(count(g) <= 100 and len(g) <= 4000 for g in got)
    assert f"{total} range{'s' * (total != 1)} in {len(got)} request{'s' * (len(got) != 1)}" in r.stderr


@pytest.mark.parametrize("mode,why", [
    ("refuse", "the server refuses the ranges asked for (HTTP 416)"),
    ("no-content-range", "a malformed multipart/byteranges answer: a part without Content-Range"),
    ("unclosed", "a malformed multipart/byteranges answer: the answer ended before the closing boundary"),
])
def test_bad_multipart_falls_back_to_full(abota, app, tmp_path, mode, why):
    v2 = published(abota, app, tmp_path)
    app.server.start("--log", app.log, "--multi-range", mode)
    app.set_url(app.server.url)
    r = abota(*app.args("update"))
    assert f"%40blocks%40appliance_2.store.raw: {why}" in r.stderr, r.stderr
    assert "block reuse failed, downloading the full image" in r.stderr
    assert installed(app, v2)
    assert "/appliance_2.store.raw" in gets(app)
    assert len(ranges(app)) == 1


@pytest.mark.skipif(not shutil.which("lighttpd"), reason="lighttpd not installed (TEST_PACKAGES of tools/lib.sh)")
def test_lighttpd(abota, app, tmp_path):
    """lighttpd's own multipart/byteranges answer (no CRLF before the first boundary; lighttpd 1.4
    answers the first 10 ranges of a request: asked for at most 10 from then on)."""
    v2 = published(abota, app, tmp_path)
    server = Server(tmp_path)  # the demo's and the e2e tests' update server
    server.docroot = app.server_dir
    log = tmp_path / "lighttpd-access.log"
    server.start(access_log=log)
    try:
        app.set_url(f"http://127.0.0.1:{server.port}/")
        r = abota(*app.args("update"))
    finally:
        server.stop()
    assert "written by block reuse" in r.stderr, r.stderr
    assert installed(app, v2)
    lines = log.read_text().splitlines()
    blocks = [line.split() for line in lines if "%40blocks%40" in line]
    assert [b[3] for b in blocks] == ["206"] * len(blocks)
    assert blocks[0][4].startswith("bytes=0-") and count(blocks[0][4]) == 1  # the dictionary, first
    blocks = blocks[1:]
    asked = count(blocks[0][4])
    assert asked > 10
    assert f"the server answers a request for {asked} ranges with only 10 of them" in r.stderr
    assert len(blocks) == 1 + math.ceil((asked - 10) / 10)
    assert all(count(b[4]) <= 10 for b in blocks[1:])
    assert not [line for line in lines if line.startswith("GET /appliance_2.store.raw ")]


def test_server_limit_kept_for_the_run(abota, tmp_path, monkeypatch):
    """Two partition transfers (a dm-verity pair) from one server that answers several ranges with
    the whole file: found out on the first transfer, the second asks one range per request from
    its first request on."""
    monkeypatch.setenv("ABOTA_PATH", "blocks")
    a = Appliance(tmp_path, pair=True)
    log = tmp_path / "httpd.log"
    a.server = AgentServer(a.server_dir, tmp_path).start("--log", log, "--multi-range", "whole")
    a.set_url(a.server.url)
    try:
        data, hashes = {"1": a.v1}, {"1": a.v1_hash}
        data["2"] = edit(a.v1, 2)
        h = bytearray(a.v1_hash)
        for block in (2, 10):  # two ranges, far enough apart not to merge
            h[block * 4096] ^= 0xff
        hashes["2"] = bytes(h)
        for v in ("1", "2"):
            d = tmp_path / f"build-{v}"
            d.mkdir()
            root_hash = hashlib.sha256(b"roothash-" + v.encode()).hexdigest()
            (d / f"appliance_{v}_{root_hash[:32]}.store.raw").write_bytes(data[v])
            (d / f"appliance_{v}_{root_hash[32:]}.store-verity.raw").write_bytes(hashes[v])
            (d / f"appliance_{v}.efi").write_bytes(b"efi %s\n" % v.encode())
            abota("publish", "--definitions", a.defs, "--compress=zstd", "--deltas=0", a.server_dir, *sorted(d.iterdir()))
        r = abota(*a.args("update"))
    finally:
        a.server.stop()
    assert r.stderr.count("written by block reuse") == 2, r.stderr
    assert r.stderr.count("asking for one range per request") == 1
    assert slot_bytes(a.disk, "store_2")[:len(data["2"])] == data["2"]
    assert slot_bytes(a.disk, "store-verity_2")[:len(hashes["2"])] == hashes["2"]
    got = [line.split() for line in log.read_text().splitlines() if "%40blocks%40" in line]
    verity = [g[3] for g in got if "store-verity" in g[1]]
    store = [g[3] for g in got if "store-verity" not in g[1]]
    assert [count(g) for g in verity] == [2, 1, 1]
    assert len(store) > 1 and all(count(g) == 1 for g in store)
