"""Which entity panels exist, read from the schema's field flags (never a hard-coded list).

Every `pivot` field of `viewer.schema` is a panel over its own column, except that the fields of
kind IP are one panel: an address is the same entity whether a record saw it as source or
destination, in CloudTrail, VPC flow, Entra sign-ins, GCP audit or ALB logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from viewer.schema import Field, Kind, field, pivot_fields

IP_KIND = "ip"

#: Names an analyst types on the command line for the common panels (the canonical name is the
#: column). These are spellings, not the list of panels.
KIND_ALIASES: dict[str, str] = {
    "principal": "principal_id",
    "resource": "target_id",
    "credential": "credential_id",
    "key": "credential_id",
    "session": "session_id",
    "account": "cloud_account",
    "project": "cloud_account",
    "subscription": "cloud_account",
    "agent": "user_agent",
}


@dataclass(frozen=True)
class EntityKind:
    """One pivot panel: its name, title and the event columns its entities come from."""

    name: str
    title: str
    columns: tuple[str, ...]

    @property
    def is_ip(self) -> bool:
        return self.name == IP_KIND

    @property
    def is_resource(self) -> bool:
        """Resource ids: one entity under several spellings (`resources.target_entity_sql`)."""
        return field(self.columns[0]).kind is Kind.RESOURCE


def _kinds() -> tuple[EntityKind, ...]:
    fields = pivot_fields()
    ip_fields: list[Field] = [f for f in fields if f.kind is Kind.IP]
    kinds: list[EntityKind] = []
    for f in fields:
        if f.kind is Kind.IP:
            if f is ip_fields[0]:
                kinds.append(EntityKind(IP_KIND, "IP addresses", tuple(g.name for g in ip_fields)))
            continue
        kinds.append(EntityKind(f.name, f.title, (f.name,)))
    return tuple(kinds)


KINDS: tuple[EntityKind, ...] = _kinds()
_BY_NAME = {k.name: k for k in KINDS}


def entity_kind(name: str) -> EntityKind:
    """A panel by its name or a friendly alias; ValueError lists the valid names."""
    key = KIND_ALIASES.get(name.lower(), name.lower())
    if key in ("src_ip", "dst_ip"):
        key = IP_KIND
    if key not in _BY_NAME:
        valid = ", ".join(sorted({*_BY_NAME, *KIND_ALIASES}))
        raise ValueError(f"unknown entity kind '{name}'; valid kinds: {valid}")
    return _BY_NAME[key]


def normalize_ip_sql(expr: str) -> str:
    """SQL giving the canonical text of an address: IPv4-mapped IPv6 as plain IPv4, the port of
    `a.b.c.d:port` and `[v6]:port` stripped, IPv6 lower-cased. Values without a colon are already
    canonical, so the common case costs one `contains`."""
    return (
        f"CASE WHEN {expr} IS NULL OR NOT contains({expr}, ':') THEN {expr} "
        f"WHEN regexp_full_match({expr}, '(?i)(::ffff:)?\\d+\\.\\d+\\.\\d+\\.\\d+(:\\d+)?') "
        f"THEN regexp_extract({expr}, '(\\d+\\.\\d+\\.\\d+\\.\\d+)', 1) "
        f"WHEN starts_with({expr}, '[') THEN "
        f"lower(regexp_replace(regexp_extract({expr}, '^\\[([^\\]]+)\\]', 1), '(?i)^::ffff:(\\d+\\.)', '\\1')) "
        f"ELSE lower({expr}) END"
    )


def ip_entity_sql(expr: str) -> str:
    """SQL: the canonical address of `expr` (`normalize_ip_sql`), or NULL when it is no address.

    CloudTrail's sourceIPAddress names the service for calls AWS services make on a principal's
    behalf (`config.amazonaws.com`, `AWS Internal`); they are not addresses, and listed with
    them they crowd the real ones out of the IP panel (the service stays visible as the event's
    user agent and principal). An address starts with a digit or holds a colon (IPv6, a port,
    brackets); a name starts with a letter. One character test, no pattern, per value."""
    return (
        f"(CASE WHEN contains({expr}, ':') OR left({expr}, 1) BETWEEN '0' AND '9' "
        f"THEN {normalize_ip_sql(expr)} END)"
    )


def normalize_ip(value: str) -> str:
    """The Python twin of `normalize_ip_sql`, for values typed by an analyst."""
    v = value.strip()
    if ":" not in v:
        return v
    if v.startswith("["):
        v = v[1 : v.index("]")] if "]" in v else v[1:]
    low = v.lower()
    if low.startswith("::ffff:") and "." in low:
        return low[7:]
    if low.count(":") == 1 and "." in low:
        return low.split(":", 1)[0]
    return low
