"""Typer arguments and options shared by several commands (one help text each)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

#: The model directory an export command writes.
ModelOutput = Annotated[Path, typer.Argument(metavar="OUTPUT", help="Model directory to write.")]
#: Read a hub name from the local cache only.
LocalFilesOnly = Annotated[
    bool, typer.Option("--local-files-only", help="Never use the network, even for hub names.")
]
#: Replace an existing output.
Force = Annotated[bool, typer.Option("--force", help="Replace OUTPUT if it exists.")]
