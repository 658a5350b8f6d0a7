"""What Terraform deploys besides itself, built from this checkout into ``dist/``.

* the service's wheel, which the hosts' user_data installs from ``s3://{models}/releases/``;
* ``constraints.txt``, every dependency's version as the tests ran with it, which the hosts install under;
* ``glue-libs.zip``, the ``etl`` and ``creditscore`` packages the Glue job imports (``--extra-py-files``).

``python -m creditscore.release DIR`` (``make dist``) writes both and prints their paths; the Terraform
environments upload them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
GLUE_PACKAGES: Final = ("etl", "creditscore")
GLUE_LIBS: Final = "glue-libs.zip"
DISTRIBUTION: Final = "creditscore"
CONSTRAINTS: Final = "constraints.txt"


def glue_libs(out_dir: Path) -> Path:
    """The packages' Python sources in a zip, in sorted order with fixed times, so an unchanged tree
    gives the same bytes (and Terraform, comparing etags, uploads nothing new)."""
    path = out_dir / GLUE_LIBS
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for package in GLUE_PACKAGES:
            for source in sorted((ROOT / package).rglob("*.py")):
                info = zipfile.ZipInfo(str(source.relative_to(ROOT)), date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, source.read_bytes())
    return path


def wheel(out_dir: Path) -> Path:
    """The project's wheel; older ones are removed, so ``dist/`` holds exactly one for Terraform to find."""
    for old in out_dir.glob(f"{DISTRIBUTION}-*.whl"):
        old.unlink()
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out_dir)]
    subprocess.run([*command, str(ROOT)], check=True)
    return next(out_dir.glob(f"{DISTRIBUTION}-*.whl"))


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0] if argv else "dist")
    out_dir.mkdir(parents=True, exist_ok=True)
    constraints = Path(shutil.copyfile(ROOT / CONSTRAINTS, out_dir / CONSTRAINTS))
    for path in (wheel(out_dir), constraints, glue_libs(out_dir)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
