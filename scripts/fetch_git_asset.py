"""Fetch a project asset from a Git repository at a pinned commit, and verify it.

weasel's `git` assets take a `branch`, so what they fetch changes whenever the
branch moves. The corpora that come from Git repositories are therefore
project.yml assets without `git` or `url`: each names the commit in
`pinned_git` and carries the `checksum` that `spacy project assets` verifies
(MD5 over the asset's files, computed as weasel computes it):

    - dest: "assets/corpora/ncbi-disease"
      checksum: "1fe33306c04c1665da9f6532ca5df442"
      pinned_git:
        repo: "https://github.com/spyysalo/ncbi-disease"
        commit: "5a266c6fc76fb2b5184cfa397ff0a5ecdb133aec"
        path: "standoff"

    python scripts/fetch_git_asset.py assets/corpora/ncbi-disease

checks out `path` at `commit` (a shallow fetch of that commit, or a full clone
where the server refuses one), copies it to `dest` and keeps it only if its
checksum matches. An asset already in place with the right checksum is
skipped. The project command `fetch-corpus` runs this script.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import srsly
import typer
from wasabi import msg
from weasel.util import get_checksum

COMMIT = re.compile(r"[0-9a-f]{40}")


def find_asset(project_dir: Path, dest: str) -> dict[str, Any]:
    """The project.yml asset entry with this `dest`, checked for a pinned Git source.

    project_dir (Path): The project directory (holding project.yml).
    dest (str): The asset's `dest`, as written in project.yml.
    RETURNS (dict[str, Any]): The entry, with `checksum` and `pinned_git` (`repo`, `commit`, `path`).
    """
    project_file = project_dir / "project.yml"
    assets = srsly.read_yaml(project_file).get("assets", [])
    found = [asset for asset in assets if Path(asset.get("dest", "")) == Path(dest)]
    if not found:
        pinned = sorted(a["dest"] for a in assets if "pinned_git" in a)
        msg.fail(f"{project_file}: no asset with dest '{dest}'", f"Pinned Git assets: {', '.join(pinned)}",
                 exits=1)
    asset = found[0]
    source = asset.get("pinned_git") or {}
    problems = [f"pinned_git.{key} is missing" for key in ("repo", "commit", "path") if key not in source]
    if "commit" in source and not COMMIT.fullmatch(str(source["commit"])):
        problems.append(f"pinned_git.commit {source['commit']!r} is not a 40-digit commit hash")
    if not re.fullmatch(r"[0-9a-f]{32}", str(asset.get("checksum", ""))):
        problems.append("checksum (an MD5 hex digest) is missing")
    if problems:
        msg.fail(f"{project_file}: asset '{dest}' cannot be fetched", "; ".join(problems), exits=1)
    return asset


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # core.autocrlf=false: the files must keep their bytes, or the checksum fails on Windows
    cmd = ["git", "-c", "core.autocrlf=false", "-c", "advice.detachedHead=false", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def _run_git(*args: str, cwd: Path) -> None:
    proc = _git(*args, cwd=cwd)
    if proc.returncode != 0:
        msg.fail(f"git {' '.join(args)} failed", proc.stderr.strip(), exits=1)


def checkout(repo: str, commit: str, path: str, workdir: Path) -> Path:
    """Check out `path` of `repo` at `commit` in `workdir`.

    repo (str): The repository URL (or a local repository).
    commit (str): The full commit hash.
    path (str): The file or directory inside the repository ("" for all of it).
    workdir (Path): An empty directory for the checkout.
    RETURNS (Path): The checked-out `path`.
    """
    _run_git("init", "--quiet", ".", cwd=workdir)
    _run_git("remote", "add", "origin", repo, cwd=workdir)
    if path:
        _run_git("sparse-checkout", "set", "--no-cone", path, cwd=workdir)
    fetched = _git("fetch", "--quiet", "--depth", "1", "origin", commit, cwd=workdir)
    if fetched.returncode != 0:  # a server that does not serve commits by hash: fetch everything
        _run_git("fetch", "--quiet", "origin", cwd=workdir)
    _run_git("checkout", "--quiet", "--detach", commit, cwd=workdir)
    head = _git("rev-parse", "HEAD", cwd=workdir).stdout.strip()
    if head != commit:
        msg.fail(f"{repo}: checked out {head}, not the pinned commit {commit}", exits=1)
    source = workdir / path
    if not source.exists():
        msg.fail(f"{repo} has no '{path}' at commit {commit}", exits=1)
    return source


def fetch_git_asset(project_dir: Path, dest: str, force: bool = False) -> bool:
    """Fetch one pinned Git asset into the project and verify its checksum.

    project_dir (Path): The project directory.
    dest (str): The asset's `dest` in project.yml.
    force (bool): Fetch again even if `dest` has the right checksum.
    RETURNS (bool): Whether the asset was fetched (False: it was in place already).
    """
    asset = find_asset(project_dir, dest)
    source, checksum = asset["pinned_git"], asset["checksum"]
    target = project_dir / dest
    if target.exists() and not force and get_checksum(target) == checksum:
        msg.good(f"Skipping {dest}: in place with matching checksum")
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        checkout_dir, staged = Path(tmp) / "checkout", Path(tmp) / "staged"
        checkout_dir.mkdir()
        msg.info(f"Fetching {source['repo']} at {source['commit']} ({source['path'] or 'all'})")
        found = checkout(source["repo"], source["commit"], source["path"], checkout_dir)
        if found.is_dir():
            shutil.copytree(found, staged, ignore=shutil.ignore_patterns(".git"))
        else:
            shutil.copyfile(found, staged)
        got = get_checksum(staged)
        if got != checksum:
            msg.fail(f"Checksum mismatch for {dest}: project.yml says {checksum}, the checkout has {got}",
                     f"Nothing was written. Is pinned_git.path '{source['path']}' right?", exits=1)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        staged.rename(target)
    msg.good(f"Fetched {dest} (checksum {checksum})")
    return True


def main(
    dest: str = typer.Argument(..., help="The asset's dest in project.yml, e.g. assets/corpora/ncbi-disease"),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="The project directory"),
    force: bool = typer.Option(False, "--force", help="Fetch again even if the asset is in place"),
) -> None:
    """Fetch a pinned Git asset of project.yml and verify its checksum."""
    fetch_git_asset(project_dir, dest, force=force)


if __name__ == "__main__":
    typer.run(main)
