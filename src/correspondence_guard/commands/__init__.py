"""Further CLI commands, one module each with ``register(subparsers)``, found automatically.

A command module adds its sub-parser and sets ``func`` to a function taking the parsed
arguments and returning the exit status (0 clear, 1 findings, 2 error).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register_all(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(sub)
