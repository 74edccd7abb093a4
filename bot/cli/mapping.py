"""`abacus map KEY EMAIL`, `abacus unmap KEY` and `abacus unmapped`."""

from __future__ import annotations

import difflib
import getpass
import sys

from core.errors import InputError
from core.identity import normalise_email
from core.report import human_tokens, printable
from core.usage import nanos_to_usd


def register(sub) -> None:
    p = sub.add_parser("map", help="map an API key to a person (retroactive)",
                       description="Map a Claude Code API key (its id or name) to a person's email. "
                                   "Usage already stored under the key is re-attributed.")
    p.add_argument("key", metavar="API_KEY_ID_OR_NAME")
    p.add_argument("email", metavar="EMAIL")
    p.add_argument("--new-person", action="store_true",
                   help="the email belongs to nobody known yet (not from a vendor, the HR file or a mapping): "
                        "say so, and the note that asks to check its spelling is left out")
    p.set_defaults(handler=run_map)
    n = sub.add_parser("unmap", help="undo a manual key mapping (retroactive)",
                       description="Undo `abacus map`: the key goes back to the owner the vendor names, else to "
                                   "its name pattern, else to nobody (unmapped), and its stored usage follows.")
    n.add_argument("key", metavar="API_KEY_ID_OR_NAME")
    n.set_defaults(handler=run_unmap)
    u = sub.add_parser("unmapped", help="keys with usage but no owner")
    u.add_argument("--format", choices=["table", "json"], default="table")
    u.set_defaults(handler=run_unmapped)


def run_map(args) -> int:
    try:
        email = normalise_email(args.email)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    ref = args.key.strip()
    if not ref or len(ref) > 255 or any(ord(c) < 32 for c in ref):
        raise InputError("the key must be a key id (apikey_…) or a key name")
    from bot.wiring import open_context
    from storage.db import session_scope
    from storage.people_repo import known_emails, map_key

    ctx = open_context(existing=True)
    try:
        with session_scope(ctx.engine) as session:
            known = known_emails(session=session)
            key, changed = map_key(session=session, ref=ref, email=email, by=f"cli:{getpass.getuser()}")
    except LookupError:
        raise InputError(f"no key {ref!r} is known and no usage was seen under it; check `abacus unmapped`") from None
    label = printable(key.name or key.external_id)
    print(f"mapped {label} -> {email}; {changed} stored record(s) re-attributed")
    if email not in known and not args.new_person:
        # the contract's `abacus map KEY EMAIL` maps to anyone (an unmapped key's owner is often known
        # nowhere else, and Slack's `map` does too); a likely typo is pointed out, `unmap` undoes it
        close = difflib.get_close_matches(email, known, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]}?" if close else ""
        print(f"abacus: note: {email} is new to Abacus (not from the vendors, the HR file or earlier mappings).{hint} "
              f"If it is a typo, `abacus unmap {printable(ref)}` undoes the mapping", file=sys.stderr)
    return 0


def _key_ref(text: str) -> str:
    ref = text.strip()
    if not ref or len(ref) > 255 or any(ord(c) < 32 for c in ref):
        raise InputError("the key must be a key id (apikey_…) or a key name")
    return ref


def run_unmap(args) -> int:
    ref = _key_ref(args.key)
    from bot.wiring import open_context
    from storage.db import session_scope
    from storage.people_repo import unmap_key

    ctx = open_context(existing=True)
    try:
        with session_scope(ctx.engine) as session:
            key, person, changed = unmap_key(session=session, ref=ref, domain=ctx.settings.email_domain,
                                             by=f"cli:{getpass.getuser()}")
    except LookupError:
        raise InputError(f"no key {printable(ref)!r} is known; check `abacus unmapped`") from None
    except ValueError:
        raise InputError(f"{printable(ref)!r} is not mapped by hand: its owner comes from the vendor or its "
                         "name, and `abacus map` overrides that") from None
    print(f"unmapped {printable(key.name or key.external_id)}: its usage now goes to {printable(person)}; "
          f"{changed} stored record(s) re-attributed")
    return 0


def run_unmapped(args) -> int:
    import json

    from bot.wiring import no_usage_note, open_context
    from storage.db import session_scope
    from storage.people_repo import unmapped_keys

    ctx = open_context(existing=True)
    note = no_usage_note(ctx)
    if note:
        print(f"abacus: note: {note}", file=sys.stderr)
    with session_scope(ctx.engine) as session:
        keys = unmapped_keys(session=session)
    if args.format == "json":
        json.dump([{"source": k.source, "key": k.key, "name": k.name, "records": k.records,
                    "cost_usd": nanos_to_usd(k.cost_nanos), "total_tokens": k.total_tokens,
                    "first_day": k.first_day.isoformat(), "last_day": k.last_day.isoformat()} for k in keys],
                  sys.stdout, indent=2)
        print()
        return 0
    if not keys:
        print("every key with usage is mapped to a person")
        return 0
    print(f"{'source':<12} {'key':<40} {'cost':>10} {'tokens':>8} {'records':>8}  seen")
    for k in keys:
        label = printable(k.key if not k.name or k.name == k.key else f"{k.name} ({k.key})")
        print(f"{k.source:<12} {label[:40]:<40} {'$' + format(nanos_to_usd(k.cost_nanos), ',.2f'):>10} "
              f"{human_tokens(k.total_tokens):>8} {k.records:>8}  {k.first_day}..{k.last_day}")
    print("\nmap one with: abacus map <key> <email>")
    return 0
