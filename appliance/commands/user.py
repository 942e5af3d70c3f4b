"""``fukurou user add|passwd|del|list|token``: the viewer's users (like Arkime's addUser.js)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from appliance.commands._common import EXIT_OK, EXIT_USAGE


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("user", help="manage the web viewer's users")
    verbs = p.add_subparsers(title="actions", metavar="ACTION", dest="action", required=True)
    add = verbs.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may manage users")
    add.add_argument("--expression", default="", help="forced expression ANDed into every search of this user")
    add.add_argument("--time-limit", type=int, metavar="HOURS", help="most hours one search may span")
    _password_options(add)
    passwd = verbs.add_parser("passwd", help="set a user's password (ends their logins)")
    passwd.add_argument("name")
    _password_options(passwd)
    verbs.add_parser("del", help="delete a user").add_argument("name")
    verbs.add_parser("list", help="list the users")
    verbs.add_parser("token", help="print a new API token for a user (shown once)").add_argument("name")
    p.set_defaults(func=run)


def _password_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--password-file", metavar="FILE", help="read the password from the first line of FILE")
    group.add_argument("--password-stdin", action="store_true", help="read the password from standard input")


def read_password(args: argparse.Namespace) -> str:
    """From --password-file, --password-stdin, or typed twice at a prompt."""
    if args.password_file:
        with open(args.password_file, encoding="utf-8") as fh:
            return fh.readline().rstrip("\r\n")
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the passwords differ")
    return first


def run(args: argparse.Namespace, settings: Any) -> int:
    from appliance.store.db import StoreError, open_database
    from appliance.web.users import UserError, Users

    try:
        conn = open_database(settings.dbPath)
    except StoreError as err:
        print(f"fukurou user: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _act(Users(conn), args)
    except (UserError, ValueError, OSError) as err:
        print(f"fukurou user: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        conn.close()


def _act(users: Any, args: argparse.Namespace) -> int:
    if args.action == "add":
        users.add(args.name, read_password(args), "admin" if args.admin else "user", args.expression,
                  args.time_limit)
        print(f"added {args.name}")
    elif args.action == "passwd":
        users.set_password(args.name, read_password(args))
        print(f"password of {args.name} changed")
    elif args.action == "del":
        users.delete(args.name)
        print(f"deleted {args.name}")
    elif args.action == "list":
        for u in users.all():
            extra = f" expression={u.expression!r}" if u.expression else ""
            extra += f" timeLimit={u.time_limit}h" if u.time_limit else ""
            print(f"{u.name}\t{u.role}\t{'enabled' if u.enabled else 'disabled'}{extra}")
    elif args.action == "token":
        print(users.new_token(args.name))
    return EXIT_OK
