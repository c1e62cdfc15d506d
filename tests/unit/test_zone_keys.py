"""TSIG key files: tsig-keygen and dnssec-keygen formats, warnings, secrets never shown."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from siplocate.errors import BadInput
from siplocate.zone.keys import load_key

SECRET = "c2lwbG9jYXRlLXRlc3Qtc2VjcmV0LTMyLWJ5dGVzISE="


def write(tmp_path: Path, text: str, name: str = "key.conf", mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def test_tsig_keygen_file(tmp_path: Path) -> None:
    keygen = shutil.which("tsig-keygen") or "/usr/sbin/tsig-keygen"
    if not Path(keygen).exists():
        pytest.fail("tsig-keygen not found: apt-get install -y bind9-utils")
    out = subprocess.run([keygen, "-a", "hmac-sha256", "ops-key"], capture_output=True, check=True)
    key = load_key(write(tmp_path, out.stdout.decode()))
    assert (key.name, key.algorithm, key.warnings) == ("ops-key", "hmac-sha256", ())
    assert len(key.secret) == 32


def test_secret_never_in_repr_or_str(tmp_path: Path) -> None:
    key = load_key(write(tmp_path, f'key "k" {{ algorithm hmac-sha512; secret "{SECRET}"; }};'))
    assert SECRET not in repr(key) and SECRET not in str(key)
    assert "secret" not in repr(key)


def test_md5_is_accepted_with_a_warning(tmp_path: Path) -> None:
    key = load_key(write(tmp_path, f'key k {{ algorithm hmac-md5; secret "{SECRET}"; }};'))
    assert key.algorithm == "hmac-md5"
    assert any("obsolete" in w for w in key.warnings)


def test_readable_by_others_warns(tmp_path: Path) -> None:
    key = load_key(write(tmp_path, f'key k {{ secret "{SECRET}"; }};', mode=0o644))
    assert key.algorithm == "hmac-sha256"  # the default
    assert any("chmod 600" in w for w in key.warnings)


def test_dnssec_keygen_private_file(tmp_path: Path) -> None:
    text = f"Private-key-format: v1.3\nAlgorithm: 157 (HMAC_MD5)\nKey: {SECRET}\nBits: AAA=\n"
    key = load_key(write(tmp_path, text, name="Kupdate.example.+157+12345.private"))
    assert (key.name, key.algorithm) == ("update.example", "hmac-md5")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("nothing here", "no key clause"),
        ("key k { algorithm hmac-sha256; };", "no secret"),
        ('key k { algorithm rot13; secret "AAAA"; };', "unsupported algorithm"),
        ('key k { secret "not base64!"; };', "not base64"),
        (f'key a {{ secret "{SECRET}"; }};\nkey b {{ secret "{SECRET}"; }};', "--key-name"),
    ],
)
def test_bad_key_files(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(BadInput) as info:
        load_key(write(tmp_path, text))
    assert needle in str(info.value)
    assert SECRET not in str(info.value)


def test_pick_a_key_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, f'key a {{ secret "{SECRET}"; }};\nkey "b" {{ secret "{SECRET}"; }};')
    assert load_key(path, "b").name == "b"
    with pytest.raises(BadInput, match="no key named"):
        load_key(path, "c")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read key file"):
        load_key(tmp_path / "absent.conf")
