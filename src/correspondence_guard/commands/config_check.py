"""``correspondence-guard config check``: load the service config and all it names; OK or one error line."""

from __future__ import annotations

import argparse
import sys

from correspondence_guard.commands.serve import base_url, config_arg, prepare
from correspondence_guard.config import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="check the service configuration")
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="load the config, directory, policy, token, certificate, store URL and language model"
    )
    config_arg(check)
    check.set_defaults(func=cmd_config_check)


def cmd_config_check(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    config, checker = prepare(args.config)
    try:
        url = sa.make_url(config.store.url)
        sa.create_engine(url).dispose()  # the driver is importable; nothing is connected or created
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"store.url: {exc}") from None
    model = checker.policy.settings.nlp_model
    try:
        checker.warm_up()
    except (OSError, ImportError, ValueError) as exc:
        raise ConfigError(f"policy settings.nlp_model: cannot load {model}: {exc}") from None
    d = checker.directory
    enabled = len(checker.policy.enabled())
    print(
        f"OK: {d.council.name} ({len(d.members)} members, {len(d.officers)} officers); "
        f"{enabled} of {len(checker.policy.rules)} rules enabled; model {model}; "
        f"store {url.render_as_string(hide_password=True)}; serving {base_url(config)}"
    )
    if not config.service.allowed_origins:
        print(
            "note: service.allowed_origins is empty, so classic Outlook's on-send calls will be refused; "
            "list the add-in's origin (e.g. https://localhost:8765)",
            file=sys.stderr,
        )
    return 0
