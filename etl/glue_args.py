"""The job arguments of the Glue entry points, read the way Glue reads them (``--NAME value``).

On Glue, :func:`awsglue.utils.getResolvedOptions` reads them. Elsewhere (the same script run locally, as the
tests and an operator's dry run do: the AWS Glue libraries are not on the package index) the same
convention is parsed here: every required name must be given, optional ones only when present, and
arguments Glue itself adds (``--job-bookmark-option``, ...) are ignored.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def resolved_options(argv: Sequence[str], required: Sequence[str], optional: Sequence[str]) -> dict[str, str]:
    # getResolvedOptions refuses a name that is not given, so the optional ones are asked for only if present.
    names = [*required, *(name for name in optional if f"--{name}" in argv)]
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        parser = argparse.ArgumentParser(prog=argv[0] if argv else None, allow_abbrev=False)
        for name in names:
            parser.add_argument(f"--{name}", required=True)
        known, _ = parser.parse_known_args(argv[1:])
        return {name: str(getattr(known, name)) for name in names}
    return dict(getResolvedOptions(list(argv), names))
