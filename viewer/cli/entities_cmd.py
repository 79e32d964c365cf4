"""`caseline entities` and `caseline pivot`: who and what the case is about.

caseline entities CASE --kind principal|ip|resource|credential|session [--search TEXT] [--json]
caseline pivot CASE KIND VALUE [--json]     # VALUE: an ARN, a user or session name, a key id, an IP
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from viewer.core.case_file import CaseFile

# The correlation code (and the Arrow and numpy it loads) is imported by the handlers, so the
# other commands start without it.


def register(sub: Any) -> None:
    s = sub.add_parser(
        "entities", help="list principals, IPs, resources, credentials or sessions with counts"
    )
    s.add_argument("case")
    s.add_argument(
        "--kind",
        required=True,
        help="principal, ip, resource, credential, session, user_agent, account, action",
    )
    s.add_argument("--search", default="")
    s.add_argument(
        "--sort", default="events", choices=["events", "failures", "first_seen", "last_seen", "entity"]
    )
    s.add_argument("--limit", type=int, default=50)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_entities)

    s = sub.add_parser("pivot", help="everything about one entity: events, sources, the actor behind it")
    s.add_argument("case")
    s.add_argument("kind")
    s.add_argument("value")
    s.add_argument("--events", type=int, default=20, help="how many events to list")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_pivot)


def _open(path: str) -> CaseFile:
    """Read-only when the correlation tables are current; else bring them up to date first."""
    from viewer.core import derived
    from viewer.core.entities import builder

    case = CaseFile.open(path, read_only=True)
    if builder.is_ready(case.cursor()):
        return case
    case.close()
    case = CaseFile.open(path)
    cur = case.cursor()
    with case.transaction(cur):
        # Through derived, so the case records which version built them (the GUI then agrees).
        derived.update_all(cur)
    return case


def _entities(args: argparse.Namespace) -> int:
    from viewer.core.entities import api

    with _open(args.case) as case:
        rep = api.entities_report(case.cursor(), args.kind, args.search, args.sort, args.limit)
    if args.json:
        print(json.dumps(rep, default=str))
        return 0
    print(f"{rep['kind']}: {rep['total']:,} entities")
    for e in rep["entities"]:
        srcs = ",".join(e.get("sources") or [])
        print(
            f"  {e['events']:>9,}  fail {e['failures']:>6,}  {str(e['first_seen'])[:19]} → {str(e['last_seen'])[:19]}  [{srcs}]  {e['entity']}"
        )
    return 0


def _pivot(args: argparse.Namespace) -> int:
    from viewer.core.entities import api

    with _open(args.case) as case:
        rep = api.pivot_report(case.cursor(), args.kind, args.value, args.events)
    if args.json:
        print(json.dumps(rep, default=str))
        return 0
    if not rep["matches"]:
        print(f"no {rep['kind']} matching {args.value!r}")
        return 1
    print(f"{rep['kind']}: {', '.join(rep['matches'])}")
    print(f"filter: {rep.get('filter_text') or rep.get('filter_sql')}")
    for row in rep.get("counts_by_source") or []:
        print(
            f"  {row['source']}: {row['events']:,} events, {row['failures']:,} failures, "
            f"{str(row['first_seen'])[:19]} → {str(row['last_seen'])[:19]}"
        )
    for who in ((rep.get("card") or {}).get("touched_by") or [])[:20]:
        print(
            f"  touched by {who['actor']}: {who['action']} ×{who['events']:,} from {str(who['first_seen'])[:19]}"
        )
    if rep.get("actor"):
        hops = (rep.get("actor_chain") or {}).get("hops") or []
        print(f"actor: {rep['actor']}")
        for h in hops:
            print(f"  ← {h}")
    for ev in rep.get("events") or []:
        print(
            f"  {str(ev.get('ts'))[:19]}  {ev.get('source_type')}  {ev.get('action')}  {ev.get('outcome')}  {ev.get('src_ip') or ''}"
        )
    return 0
