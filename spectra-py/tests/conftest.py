import os
from pathlib import Path

import pytest


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small known tree: 3 directories, files of known sizes and extensions."""
    sizes = {"a/one.log": 1000, "a/two.log": 2000, "b/three.txt": 3000, "b/c/four.bin": 4096,
             "five": 10}
    for name, size in sizes.items():
        path = tmp_path / "root" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    return tmp_path / "root"


def truth(root: Path):
    """What os.walk and lstat say: (files, apparent bytes of files)."""
    files = 0
    size = 0
    for directory, _, names in os.walk(root):
        for name in names:
            files += 1
            size += os.lstat(os.path.join(directory, name)).st_size
    return files, size
