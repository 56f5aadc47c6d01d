"""Extract one file of a zip asset, and keep it only if its checksum matches.

Some corpora are published as an archive (BioRED: BioRED.zip) while the label
catalogue reads the files inside it, laid out as in ../shared/corpora:

    python scripts/unzip_member.py assets/corpora/biored/BioRED.zip BioRED/Train.BioC.XML \
        assets/corpora/bioc/biored/Train.BioC.XML --md5 d77cb11be6d1d8e6493299503aa6229f

A file already in place with the right checksum is skipped; a member whose
MD5 differs is not written.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import typer
from wasabi import msg


def extract_member(archive: Path, member: str, dest: Path, md5: str) -> bool:
    """Write one member of a zip file to `dest` if its MD5 is `md5`.

    archive (Path): The zip file.
    member (str): The member's name inside it.
    dest (Path): Where it goes.
    md5 (str): Its expected MD5 hex digest.
    RETURNS (bool): Whether it was written (False: it was in place already).
    """
    if dest.is_file() and hashlib.md5(dest.read_bytes()).hexdigest() == md5:
        msg.good(f"Skipping {dest}: in place with matching checksum")
        return False
    try:
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(member)
    except (OSError, KeyError, zipfile.BadZipFile) as err:
        msg.fail(f"Cannot read {member} from {archive}", f"{err}. Fetch the archive: spacy project assets --extra",
                 exits=1)
    got = hashlib.md5(data).hexdigest()
    if got != md5:
        msg.fail(f"Checksum mismatch for {member} in {archive}: expected {md5}, got {got}", "Nothing was written.",
                 exits=1)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    msg.good(f"Extracted {dest} (checksum {md5})")
    return True


def main(
    archive: Path = typer.Argument(..., help="The zip file"),
    member: str = typer.Argument(..., help="The file inside it"),
    dest: Path = typer.Argument(..., help="Where the file goes"),
    md5: str = typer.Option(..., "--md5", help="The file's MD5 checksum"),
) -> None:
    """Extract one file of a zip asset and verify its checksum."""
    extract_member(archive, member, dest, md5)


if __name__ == "__main__":
    typer.run(main)
