"""Finding scorers: a pluggy manager over the ``creditscore`` entry-point group."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import cast

import pluggy

from creditscore import plugin
from creditscore.plugin import Scorer


class PluginError(LookupError):
    """A scorer is unknown, or two plugins claim the same name."""


def plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(plugin.PROJECT)
    manager.add_hookspecs(plugin)
    manager.load_setuptools_entrypoints(plugin.PROJECT)
    return manager


def discover(manager: pluggy.PluginManager | None = None) -> dict[str, Scorer]:
    """Every installed scorer by name."""
    manager = manager or plugin_manager()
    found: dict[str, Scorer] = {}
    owners: dict[str, str] = {}
    for impl in manager.hook.creditscore_scorers.get_hookimpls():
        provided = cast(Sequence[Scorer], impl.function())
        for scorer in provided:
            if scorer.name in found:
                raise PluginError(
                    f"scorer {scorer.name!r} is provided by both {owners[scorer.name]} and {impl.plugin_name}"
                )
            found[scorer.name] = scorer
            owners[scorer.name] = impl.plugin_name
    return found


@cache
def installed() -> dict[str, Scorer]:
    """The installed scorers, discovered once per process."""
    return discover()


def scorer(name: str) -> Scorer:
    scorers = installed()
    if name not in scorers:
        raise PluginError(f"no scorer named {name!r}; installed: {', '.join(sorted(scorers)) or 'none'}")
    return scorers[name]
