"""``correspondence-guard config check``: load the service config and all it names; OK or one error line."""

from __future__ import annotations

import argparse
import sys

from correspondence_guard.commands.serve import base_url, config_arg, prepare
from correspondence_guard.config import ConfigError, WatchAccount


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="check the service configuration")
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="load the config, directory, policy, token, certificate, store URL and language model; "
        "log in to each watch account (OAuth2: its token request first)",
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
    accounts_ok = check_accounts(config.watch.accounts)
    if not config.service.allowed_origins:
        print(
            "note: service.allowed_origins is empty, so classic Outlook's on-send calls will be refused; "
            "list the add-in's origin (e.g. https://localhost:8765)",
            file=sys.stderr,
        )
    return 0 if accounts_ok else 1


def check_accounts(accounts: list[WatchAccount]) -> bool:
    """For each watch account: its token request (OAuth2) and its login, one line each; all OK?"""
    ok = True
    for account in accounts:
        good, line = check_account(account)
        ok = ok and good
        print(f"account {account.name}: {'OK' if good else 'FAILED'}: {line}")
    return ok


def check_account(account: WatchAccount) -> tuple[bool, str]:
    from imapclient.exceptions import IMAPClientError, LoginError

    from correspondence_guard.mailbox import imap
    from correspondence_guard.mailbox.oauth2 import TokenError, provider_for

    done = []
    try:
        if account.auth == "oauth2":
            provider = provider_for(account)
            provider.token()
            done.append(f"token from {provider.endpoint()}")
        if account.kind == "graph":
            from correspondence_guard.mailbox.graph import GraphClient, GraphError

            graph = GraphClient(account, timeout=30)
            folder = account.folders[0] if account.folders else "Inbox"
            try:
                graph.delta_page(graph.delta_url(folder))
            except GraphError as exc:
                return False, "; ".join([*(f"{d} OK" for d in done), str(exc)])
            finally:
                graph.close()
            done.append(f"Graph delta of {account.username}/{folder}")
            return True, "; ".join(done)
        client = imap.connect(account, connect_timeout=10, read_timeout=30)
        imap.close(client)
        done.append(f"IMAP login to {account.host}:{account.port} as {account.username}")
        return True, "; ".join(done)
    except TokenError as exc:
        return False, str(exc)
    except LoginError as exc:
        what = (
            f"IMAP login to {account.host}:{account.port} as {account.username} refused: {imap.describe(exc)}"
        )
    except (IMAPClientError, OSError) as exc:
        what = f"IMAP server {account.host}:{account.port}: {imap.describe(exc)}"
    except ConfigError as exc:
        what = str(exc)
    return False, "; ".join([*(f"{d} OK" for d in done), what])
