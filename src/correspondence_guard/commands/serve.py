"""``correspondence-guard serve``: the HTTPS service for the Outlook add-in (docs/service.md).

The config, directory, policy, token, certificate and add-in files are checked before the
port opens; the language model loads in the background (``/readyz`` says when it is ready).
"""

from __future__ import annotations

import argparse
import logging
import ssl
from typing import TYPE_CHECKING

from correspondence_guard.config import Config, ConfigError, load_config

if TYPE_CHECKING:  # the web stack and the engine load only when a command runs
    from correspondence_guard.engine import Checker
    from correspondence_guard.service.api import StartHook

#: Things that run alongside the service, started when it starts and stopped when it stops.
#: Each is called with (config, checker, store), sharing the service's loaded checker and store,
#: and returns a function that stops it, or None. The nightly review scheduler goes here, e.g.
#: ``STARTUP_HOOKS.append(start_review_scheduler)``.
STARTUP_HOOKS: list[StartHook] = []


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the HTTPS service for the Outlook add-in")
    config_arg(parser)
    parser.set_defaults(func=cmd_serve)


def config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="service config, YAML or TOML (default: $CG_CONFIG)")
    parser.add_argument(
        "--no-schedule",
        action="store_true",
        help="do not run the nightly review and retention jobs here (run `schedule` once elsewhere)",
    )


def prepare(path: str | None) -> tuple[Config, Checker]:
    """Load and check everything the service needs, short of the language model and the store."""
    from correspondence_guard.engine import Checker
    from correspondence_guard.service.addin import load_addin
    from correspondence_guard.service.security import cors_options

    config = load_config(path)
    svc = config.service
    svc.bearer_token()
    if svc.certfile is None and not svc.allow_http:
        raise ConfigError(
            "service: no certfile/keyfile; Outlook and the API need HTTPS "
            "(set service.allow_http: true only for a loopback test set-up)"
        )
    cors_options(svc.allowed_origins)
    load_addin(svc.addin_dir)
    if svc.certfile and svc.keyfile:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(svc.certfile, svc.keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"service.certfile/keyfile: cannot load {svc.certfile}: {exc}") from None
    return config, Checker.load(config.directory, config.policy)


def base_url(config: Config) -> str:
    svc = config.service
    return f"{'https' if svc.certfile else 'http'}://{svc.host}:{svc.port}"


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from correspondence_guard.service.api import create_app
    from correspondence_guard.service.security import uvicorn_limits
    from correspondence_guard.store.db import Store

    config, checker = prepare(args.config)
    try:
        store = Store(config.store.url)
    except SQLAlchemyError as exc:
        raise ConfigError(f"store.url: cannot open the store ({type(exc).__name__})") from None
    from correspondence_guard.review.schedule import service_hook

    hooks = [*STARTUP_HOOKS, *([] if args.no_schedule else [service_hook])]
    pool = None
    if config.service.check_processes:
        from correspondence_guard.service.check_pool import CheckPool

        pool = CheckPool(config.service.check_processes, config.directory, config.policy, config.store.url)
    app = create_app(checker, config, store, startup=hooks, pool=pool)
    for name in ("uvicorn", "correspondence_guard"):
        logging.getLogger(name).setLevel(logging.INFO)
    svc = config.service
    print(
        f"correspondence-guard: serving {base_url(config)} (add-in at /addin/, API docs at /docs)", flush=True
    )
    try:
        uvicorn.run(
            app,
            host=svc.host,
            port=svc.port,
            ssl_certfile=str(svc.certfile) if svc.certfile else None,
            ssl_keyfile=str(svc.keyfile) if svc.keyfile else None,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=10,
            **uvicorn_limits(svc),
        )
    finally:
        if pool is not None:
            pool.close()
        store.close()
    return 0
