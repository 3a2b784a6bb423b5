# SPDX-License-Identifier: LGPL-2.1-or-later
"""Encrypt= in abota repart, abota enroll and abota unlock --test against a real software TPM
(swtpm, socket mode), and interoperability with systemd-cryptenroll 252 on the same TPM. The host
has no device-mapper: volumes are checked with libcryptsetup's key checks, cryptsetup, and by
decrypting the data segment in Python (AES-XTS from the cryptography package) and running e2fsck
on the result."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from swtpm import Swtpm  # noqa: E402

SEED = "0867da16-f251-457d-a9e8-c31f9a3c220b"
MiB = 1024 * 1024
RECOVERY_RE = re.compile(r"\b([cbdefghijklnrtuv]{8}(?:-[cbdefghijklnrtuv]{8}){7})\b")
# The fields systemd-cryptenroll 252 writes into a systemd-tpm2 token without a PIN or signed policy.
SYSTEMD_TPM2_FIELDS = {"type", "keyslots", "tpm2-blob", "tpm2-pcrs", "tpm2-pcr-bank", "tpm2-primary-alg",
                       "tpm2-policy-hash", "tpm2-pin"}

pytestmark = pytest.mark.skipif(not shutil.which("swtpm"), reason="swtpm not installed (tools/lib.sh TEST_PACKAGES)")


@pytest.fixture
def tpm(tmp_path):
    t = Swtpm(tmp_path / "tpm-state")
    yield t
    t.stop()


@pytest.fixture
def other_tpm(tmp_path):
    """Another machine's TPM: a fresh state."""
    t = Swtpm(tmp_path / "other-tpm-state")
    yield t
    t.stop()


def run(*args, **kw):
    return subprocess.run([*map(str, args)], capture_output=True, text=True, **kw)


def luks_json(volume):
    p = run("cryptsetup", "luksDump", "--dump-json-metadata", volume)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def volume_key(volume, key_file):
    p = run("cryptsetup", "luksDump", "--dump-volume-key", "-q", "--key-file", key_file, volume)
    assert p.returncode == 0, p.stderr
    return bytes.fromhex("".join(re.findall(r"\b[0-9a-f]{2}\b", p.stdout.split("MK dump:")[1])))


def decrypt(volume, key, out):
    """The data segment of a LUKS2 aes-xts-plain64 volume (512-byte sectors), decrypted."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    meta = luks_json(volume)["segments"]["0"]
    assert meta["encryption"] == "aes-xts-plain64" and meta["sector_size"] == 512
    data = Path(volume).read_bytes()[int(meta["offset"]):]
    with open(out, "wb") as f:
        for i in range(len(data) // 512):
            d = Cipher(algorithms.AES(key), modes.XTS(i.to_bytes(16, "little"))).decryptor()
            f.write(d.update(data[i * 512:(i + 1) * 512]) + d.finalize())


def make_image(abota, tmp_path, tpm, encrypt, *extra, size="SizeMinBytes=24M"):
    defs = tmp_path / "defs"
    defs.mkdir(exist_ok=True)
    (defs / "10-home.conf").write_text(f"[Partition]\nType=home\nFormat=ext4\nEncrypt={encrypt}\n"
                                       f"MakeDirectories=/data\nCopyFiles=/etc:/data/etc\n{size}\n")
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True, exist_ok=True)
    (tree / "etc" / "hello").write_text("hello from the build\n")
    image = tmp_path / "disk.raw"
    abota("repart", "--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={defs}", f"--root={tree}",
          "--dry-run=no", "--split=yes", f"--tpm2-device={tpm.tcti}", *extra, image)
    return tmp_path / "disk.home.raw"


def test_encrypt_key_file_and_tpm2(abota, tmp_path, tpm):
    key = tmp_path / "build.key"
    key.write_bytes(os.urandom(32))
    vol = make_image(abota, tmp_path, tpm, "key-file+tpm2", f"--key-file={key}")
    meta = luks_json(vol)
    assert re.search(r"^Label:\s+home$", run("cryptsetup", "luksDump", vol).stdout, re.M)
    assert meta["segments"]["0"]["offset"] == str(16 * MiB)
    assert sorted(meta["keyslots"]) == ["0", "1"]
    assert meta["keyslots"]["0"]["key_size"] == 64
    tokens = list(meta["tokens"].values())
    assert len(tokens) == 1 and set(tokens[0]) == SYSTEMD_TPM2_FIELDS
    t = tokens[0]
    assert (t["type"], t["keyslots"], t["tpm2-pcrs"], t["tpm2-pcr-bank"], t["tpm2-primary-alg"], t["tpm2-pin"]) == \
        ("systemd-tpm2", ["1"], [7], "sha256", "ecc", False)
    # LUKS UUID = v4(HMAC(partition UUID, "luks-uuid")), computed independently here.
    import hashlib
    import hmac
    import uuid
    part = json.loads(run("sfdisk", "--json", tmp_path / "disk.raw").stdout)["partitiontable"]["partitions"][0]
    h = bytearray(hmac.new(uuid.UUID(part["uuid"]).bytes, b"luks-uuid", hashlib.sha256).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x40
    h[8] = (h[8] & 0x3F) | 0x80
    assert run("cryptsetup", "luksUUID", vol).stdout.strip() == str(uuid.UUID(bytes=bytes(h)))

    r = abota("unlock", "--test", f"--tpm2-device={tpm.tcti}", vol)
    assert "TPM2 opens key slot 1" in r.stdout
    r = abota("unlock", "--test", f"--key-file={key}", vol)
    assert "key file opens key slot 0" in r.stdout
    assert run("cryptsetup", "open", "--test-passphrase", "--key-file", key, vol).returncode == 0
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(b"wrong")
    r = abota("unlock", "--test", f"--key-file={wrong}", vol, check=False)
    assert r.returncode != 0 and "does not open any key slot" in r.stderr

    # The file system inside, decrypted without abota and without device-mapper.
    plain = tmp_path / "home.plain"
    decrypt(vol, volume_key(vol, key), plain)
    fsck = run("e2fsck", "-fn", plain)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert run("debugfs", "-R", "cat /data/etc/hello", plain).stdout == "hello from the build\n"
    assert os.path.getsize(plain) == os.path.getsize(vol) - 16 * MiB


def test_fresh_tpm_and_changed_pcrs_refuse_recovery_key_opens(abota, tmp_path, tpm, other_tpm):
    vol = make_image(abota, tmp_path, tpm, "tpm2")
    assert "key-file" not in vol.read_bytes()[:4096].decode("latin1")
    r = abota("enroll", "--recovery-key", f"--unlock-tpm2-device={tpm.tcti}", vol)
    keys = RECOVERY_RE.findall(r.stdout)
    assert len(keys) == 1, r.stdout
    rk = keys[0]
    # Shown once, stored nowhere: neither the image nor the token holds it.
    assert rk.encode() not in vol.read_bytes()
    assert rk.replace("-", "").encode() not in vol.read_bytes()
    tokens = [t["type"] for t in luks_json(vol)["tokens"].values()]
    assert sorted(tokens) == ["systemd-recovery", "systemd-tpm2"]

    # Another machine: the sealed key does not load there.
    r = abota("unlock", "--test", f"--tpm2-device={other_tpm.tcti}", vol, check=False)
    assert r.returncode != 0
    assert "refuses the sealed key: it was sealed by another TPM" in r.stderr, r.stderr
    assert "try: abota unlock --recovery-key" in r.stderr
    r = abota("unlock", "--test", "--recovery-key", vol, input=rk + "\n")
    assert "recovery key opens key slot 1" in r.stdout
    # As typed by a person: upper case, no dashes, blanks around.
    abota("unlock", "--test", "--recovery-key", vol, input="  " + rk.replace("-", "").upper() + " \n")
    bad = ("c" * 8 + "-") * 7 + "c" * 8
    r = abota("unlock", "--test", "--recovery-key", vol, input=bad + "\n", check=False)
    assert r.returncode != 0 and "recovery key does not open any key slot" in r.stderr
    r = abota("unlock", "--test", "--recovery-key", vol, input="not-a-key\n", check=False)
    assert r.returncode != 0 and "not 64 modhex letters" in r.stderr

    # The same TPM after PCR 7 changed (another boot chain): the policy no longer matches.
    abota("unlock", "--test", f"--tpm2-device={tpm.tcti}", vol)
    if shutil.which("tpm2_pcrextend"):
        p = run("tpm2_pcrextend", "7:sha256=" + "11" * 32, env=dict(os.environ, TPM2TOOLS_TCTI=tpm.tcti))
        assert p.returncode == 0, p.stderr
        r = abota("unlock", "--test", f"--tpm2-device={tpm.tcti}", vol, check=False)
        assert r.returncode != 0 and "PCR values differ" in r.stderr, r.stderr


def test_unlock_volume_enrolled_by_systemd_cryptenroll(abota, tmp_path, tpm):
    if not shutil.which("systemd-cryptenroll"):
        pytest.skip("systemd-cryptenroll not installed")
    vol = tmp_path / "sd.luks"
    with open(vol, "wb") as f:
        f.truncate(24 * MiB)
    pw = tmp_path / "pw"
    pw.write_text("a passphrase")
    p = run("cryptsetup", "luksFormat", "--type", "luks2", "-q", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations",
            "1000", vol, pw)
    assert p.returncode == 0, p.stderr
    env = dict(os.environ, PASSWORD="a passphrase")
    p = run("systemd-cryptenroll", f"--tpm2-device={tpm.tcti}", "--tpm2-pcrs=7", vol, env=env)
    assert p.returncode == 0, p.stderr
    p = run("systemd-cryptenroll", "--recovery-key", vol, env=env)
    assert p.returncode == 0, p.stderr
    rk = RECOVERY_RE.findall(p.stdout + p.stderr)
    assert len(rk) == 1

    r = abota("unlock", "--test", f"--tpm2-device={tpm.tcti}", vol)
    assert "TPM2 opens key slot 1" in r.stdout
    r = abota("unlock", "--test", "--recovery-key", vol, input=rk[0] + "\n")
    assert "recovery key opens key slot 2" in r.stdout


def test_systemd_reads_abota_tokens(abota, tmp_path, tpm):
    """systemd-cryptenroll 252 classifies abota's key slots by their tokens and wipes them; the sealed
    blob unseals with tpm2-tools (independent of abota) the way systemd-cryptsetup does it: the ECC
    storage root key, TPM2_PolicyPCR(sha256:7), TPM2_Unseal, base64 = the passphrase."""
    if not shutil.which("systemd-cryptenroll"):
        pytest.skip("systemd-cryptenroll not installed")
    vol = make_image(abota, tmp_path, tpm, "tpm2")
    abota("enroll", "--recovery-key", f"--unlock-tpm2-device={tpm.tcti}", vol)
    p = run("systemd-cryptenroll", vol)
    assert p.returncode == 0, p.stderr
    assert re.findall(r"^\s*(\d+)\s+(\S+)$", p.stdout, re.M) == [("0", "tpm2"), ("1", "recovery")]

    if shutil.which("tpm2_unseal"):
        import base64
        blob = base64.b64decode(next(iter(luks_json(vol)["tokens"].values()))["tpm2-blob"])
        n = int.from_bytes(blob[:2], "big")
        (tmp_path / "priv").write_bytes(blob[:2 + n])
        (tmp_path / "pub").write_bytes(blob[2 + n:])
        env = dict(os.environ, TPM2TOOLS_TCTI=tpm.tcti)
        # Without a resource manager every transient handle must be flushed after its step.
        steps = [["tpm2_createprimary", "-Q", "-C", "o", "-g", "sha256", "-G", "ecc256:aes128cfb", "-c", "primary.ctx"],
                 ["tpm2_flushcontext", "-t"],
                 ["tpm2_load", "-Q", "-C", "primary.ctx", "-u", "pub", "-r", "priv", "-c", "obj.ctx"],
                 ["tpm2_flushcontext", "-t"],
                 ["tpm2_startauthsession", "-Q", "--policy-session", "-S", "s.ctx"],
                 ["tpm2_policypcr", "-Q", "-S", "s.ctx", "-l", "sha256:7"]]
        for s in steps:
            p = run(*s, env=env, cwd=tmp_path)
            assert p.returncode == 0, (s, p.stderr)
        p = subprocess.run(["tpm2_unseal", "-c", "obj.ctx", "-p", "session:s.ctx"], env=env, cwd=tmp_path,
                           capture_output=True)
        assert p.returncode == 0, p.stderr
        (tmp_path / "pass").write_bytes(base64.b64encode(p.stdout))
        assert run("cryptsetup", "open", "--test-passphrase", "--key-slot", "0", "--key-file", tmp_path / "pass",
                   vol).returncode == 0

    p = run("systemd-cryptenroll", "--wipe-slot=recovery", vol)
    assert p.returncode == 0, p.stderr
    assert [t["type"] for t in luks_json(vol)["tokens"].values()] == ["systemd-tpm2"]
    assert list(luks_json(vol)["keyslots"]) == ["0"]


def test_encrypted_size_equals_systemd_repart(abota, tmp_path, tpm):
    """systemd-repart 252 plans 1 MiB ext4 + 16 MiB LUKS2 header = 17 MiB (it sizes the image file
    before it needs device-mapper, which this host lacks)."""
    if not shutil.which("systemd-repart"):
        pytest.skip("systemd-repart not installed")
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "10-home.conf").write_text("[Partition]\nType=home\nFormat=ext4\nEncrypt=tpm2\n")
    sd = tmp_path / "sd.raw"
    run("systemd-repart", "--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={defs}",
        "--dry-run=no", f"--tpm2-device={tpm.tcti}", sd)
    ab = tmp_path / "ab.raw"
    abota("repart", "--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={defs}", "--dry-run=no",
          f"--tpm2-device={tpm.tcti}", ab)
    assert os.path.getsize(ab) == os.path.getsize(sd) == 17 * MiB + 1044 * 1024
    assert run("cryptsetup", "isLuks", ab.parent / "ab.raw").returncode != 0  # the disk, not the partition


def test_encrypt_config_errors(abota, tmp_path):
    defs = tmp_path / "defs"
    defs.mkdir()
    conf = defs / "10-home.conf"
    conf.write_text("[Partition]\nType=home\nFormat=ext4\nEncrypt=maybe\n")
    r = abota("repart", "--empty=create", "--size=auto", f"--definitions={defs}", tmp_path / "a.raw", check=False)
    assert r.returncode != 0 and f"{conf}:4: Encrypt=maybe: expected off, key-file, tpm2 or key-file+tpm2" in r.stderr
    conf.write_text("[Partition]\nType=home\nFormat=ext4\nEncrypt=yes\n")
    r = abota("repart", "--empty=create", "--size=auto", f"--definitions={defs}", tmp_path / "a.raw", check=False)
    assert r.returncode != 0 and "Encrypt=key-file needs --key-file=" in r.stderr
    assert not (tmp_path / "a.raw").exists()
    r = abota("unlock", "--test", "--key-file=/nonexistent", conf, check=False)
    assert r.returncode != 0 and "not a LUKS2 volume" in r.stderr


def partition_bytes(image, n, out):
    """Partition n (1-based) of a GPT image file, copied out (sfdisk's view of the table)."""
    p = json.loads(run("sfdisk", "--json", image).stdout)["partitiontable"]["partitions"][n - 1]
    with open(image, "rb") as f:
        f.seek(p["start"] * 512)
        Path(out).write_bytes(f.read(p["size"] * 512))
    return p


def test_first_boot_creates_encrypted_data_partition(abota, tmp_path, tpm):
    """The device's first boot: the image has only its OS partition; repart on the device adds the
    data partition, encrypted with a key sealed to the device's TPM (no key file exists anywhere).
    The existing partition stays byte-identical, and a second run changes nothing."""
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "10-root.conf").write_text("[Partition]\nType=root\nFormat=ext4\nMakeDirectories=/etc\n"
                                       "SizeMinBytes=16M\nSizeMaxBytes=16M\n")
    image = tmp_path / "disk.raw"
    abota("repart", "--empty=create", "--size=64M", f"--seed={SEED}", f"--definitions={defs}", "--dry-run=no", image)
    partition_bytes(image, 1, tmp_path / "root.before")

    (defs / "20-data.conf").write_text("[Partition]\nType=linux-generic\nLabel=data\nFormat=ext4\nEncrypt=tpm2\n")
    abota("repart", f"--definitions={defs}", "--dry-run=no", f"--tpm2-device={tpm.tcti}", image)
    partition_bytes(image, 1, tmp_path / "root.after")
    assert (tmp_path / "root.before").read_bytes() == (tmp_path / "root.after").read_bytes()
    p = partition_bytes(image, 2, tmp_path / "data.luks")
    assert p["name"] == "data"
    meta = luks_json(tmp_path / "data.luks")
    assert list(meta["keyslots"]) == ["0"]
    assert [t["type"] for t in meta["tokens"].values()] == ["systemd-tpm2"]
    abota("unlock", "--test", f"--tpm2-device={tpm.tcti}", tmp_path / "data.luks")

    before = image.read_bytes()
    r = abota("repart", f"--definitions={defs}", "--dry-run=no", f"--tpm2-device={tpm.tcti}", image)
    assert "unchanged" in r.stdout
    assert image.read_bytes() == before


def test_encrypt_copy_blocks(abota, tmp_path, tpm):
    """CopyBlocks= with Encrypt=: the source's bytes are the plaintext of the data segment."""
    src = tmp_path / "payload.img"
    src.write_bytes(os.urandom(3 * MiB + 512))
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "10-blob.conf").write_text(f"[Partition]\nType=linux-generic\nCopyBlocks={src}\nEncrypt=key-file\n")
    key = tmp_path / "key"
    key.write_text("copy blocks key")
    image = tmp_path / "disk.raw"
    abota("repart", "--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={defs}", "--dry-run=no",
          "--split=yes", f"--key-file={key}", image)
    vol = tmp_path / "disk.linux-generic.raw"
    # 10 MiB default minimum < 3 MiB + 16 MiB header, rounded to 4 KiB.
    assert os.path.getsize(vol) == 16 * MiB + 3 * MiB + 4096
    plain = tmp_path / "plain"
    decrypt(vol, volume_key(vol, key), plain)
    assert plain.read_bytes()[:src.stat().st_size] == src.read_bytes()


@pytest.mark.parametrize("fmt,minimize", [("squashfs", "best"), ("ext4", "guess")])
def test_encrypt_minimized(abota, tmp_path, fmt, minimize):
    """Minimize= with Encrypt=: the partition holds the minimized file system plus the LUKS2 header."""
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "10-home.conf").write_text(f"[Partition]\nType=home\nFormat={fmt}\nEncrypt=key-file\n"
                                       f"CopyFiles=/etc:/etc\nMinimize={minimize}\n")
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "big").write_bytes(os.urandom(12 * MiB))
    key = tmp_path / "key"
    key.write_text("k")
    image = tmp_path / "disk.raw"
    abota("repart", "--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={defs}", f"--root={tree}",
          "--dry-run=no", "--split=yes", f"--key-file={key}", image)
    vol = tmp_path / "disk.home.raw"
    plain = tmp_path / "plain"
    decrypt(vol, volume_key(vol, key), plain)
    if fmt == "ext4":
        assert run("e2fsck", "-fn", plain).returncode == 0
        assert subprocess.run(["debugfs", "-R", f"dump /etc/big {tmp_path / 'big'}", plain],
                              capture_output=True).returncode == 0
    else:
        assert run("unsquashfs", "-d", tmp_path / "x", plain).returncode == 0
        (tmp_path / "big").write_bytes((tmp_path / "x" / "etc" / "big").read_bytes())
    assert (tmp_path / "big").read_bytes() == (tree / "etc" / "big").read_bytes()
