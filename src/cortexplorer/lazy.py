"""Package namespaces that import their names on first use (PEP 562 module ``__getattr__``).

Snakemake imports the stages' settings modules (``cortexplorer.<stage>.settings``) every time it
builds the DAG, which happens once per ``snakemake`` call and again inside every cluster job. Importing
a submodule runs its package's ``__init__`` first, so a package that re-exported its torch, nilearn or
transformers modules eagerly made every DAG build pay for them (about 3 s of a 6 s dry run). A package
lists its exports here instead; ``from cortexplorer.oracle import load_oracle`` works as before.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]) -> tuple[Callable[[str], object],
                                                                              Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name of ``exports`` ({submodule: [names]}) is imported from
    ``package.submodule`` when first asked for, then kept in the package's namespace. A name that is also a
    submodule's name cannot be lazy (importing the submodule sets the attribute): import it eagerly."""
    where = {name: submodule for submodule, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        submodule = where.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{submodule}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
