"""The hooks a creditscore plugin implements, each documented here (pluggy project name ``creditscore``).

A plugin is any importable module named by an entry point in the ``creditscore`` group of its package's
metadata, for example in its ``pyproject.toml``::

    [project.entry-points.creditscore]
    logistic-scorecard = "my_bank_models.scorecard"

and implementing one or more of these hooks with ``@plugins.hookspecs.hookimpl``. The built-in scorers are
found the same way, so a team adds a model by installing a package, without touching the server or the
built-ins.
"""

from __future__ import annotations

from collections.abc import Sequence

import pluggy

from plugins.contract import Scorer

PROJECT = "creditscore"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def creditscore_scorers() -> Sequence[Scorer]:
    """Return the scorers this plugin provides.

    Called once when the plugin manager starts. Each scorer's ``name`` must be unique across all installed
    plugins (a clash stops the start with an error naming both plugins). Return an empty sequence to
    provide none; a plugin may implement other hooks only.
    """
    raise NotImplementedError
