"""SQL for Athena over a CloudTrail table: the generated query, and the table itself.

The table's columns are those of the CloudTrail table AWS documents for Athena (lower case, as
the Glue catalog keeps them; nested structs for userIdentity, resources, tlsDetails). The query
selects the struct and array columns as `json_format(CAST(col AS JSON))`, which Athena (Trino)
renders as a JSON object with the field names; selected bare, they come back in Hive's
`{a=b, c=d}` text, which cannot be read back unambiguously.

No value given by the user is ever spliced into SQL unquoted: strings become SQL string literals
(the only escape in Trino's literals is a doubled quote), identifiers are checked against a strict
pattern and double-quoted, and the DDL's bucket, prefix, accounts and regions are checked against
what S3 and AWS allow before they are written into the statement.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

# (column, Hive type) in the order of the AWS documentation's CloudTrail table.
_USER_IDENTITY = (
    "STRUCT<type:STRING, principalid:STRING, arn:STRING, accountid:STRING, invokedby:STRING, "
    "accesskeyid:STRING, username:STRING, onbehalfof:STRUCT<userid:STRING, identitystorearn:STRING>, "
    "sessioncontext:STRUCT<attributes:STRUCT<mfaauthenticated:STRING, creationdate:STRING>, "
    "sessionissuer:STRUCT<type:STRING, principalid:STRING, arn:STRING, accountid:STRING, username:STRING>, "
    "ec2roledelivery:STRING, webidfederationdata:STRUCT<federatedprovider:STRING, "
    "attributes:MAP<STRING,STRING>>, sourceidentity:STRING>>"
)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("eventversion", "STRING"),
    ("useridentity", _USER_IDENTITY),
    ("eventtime", "STRING"),
    ("eventsource", "STRING"),
    ("eventname", "STRING"),
    ("awsregion", "STRING"),
    ("sourceipaddress", "STRING"),
    ("useragent", "STRING"),
    ("errorcode", "STRING"),
    ("errormessage", "STRING"),
    ("requestparameters", "STRING"),
    ("responseelements", "STRING"),
    ("additionaleventdata", "STRING"),
    ("requestid", "STRING"),
    ("eventid", "STRING"),
    ("readonly", "STRING"),
    ("resources", "ARRAY<STRUCT<arn:STRING, accountid:STRING, type:STRING>>"),
    ("eventtype", "STRING"),
    ("apiversion", "STRING"),
    ("managementevent", "STRING"),
    ("recipientaccountid", "STRING"),
    ("serviceeventdetails", "STRING"),
    ("sharedeventid", "STRING"),
    ("vpcendpointid", "STRING"),
    ("vpcendpointaccountid", "STRING"),
    ("eventcategory", "STRING"),
    (
        "addendum",
        "STRUCT<reason:STRING, updatedfields:STRING, originalrequestid:STRING, originaleventid:STRING>",
    ),
    ("sessioncredentialfromconsole", "STRING"),
    ("edgedevicedetails", "STRING"),
    ("tlsdetails", "STRUCT<tlsversion:STRING, ciphersuite:STRING, clientprovidedhostheader:STRING>"),
)
PARTITIONS = ("account", "region", "timestamp")  # of the table `create_table_sql` makes

_IDENT = re.compile(r"[A-Za-z0-9_]{1,255}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9!_.*()/-]{0,512}")  # S3's "safe" key characters, no quotes
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_ORG = re.compile(r"o-[a-z0-9]{10,32}")


def is_complex(hive_type: str) -> bool:
    return hive_type.strip().upper().startswith(("STRUCT", "ARRAY", "MAP", "ROW"))


def literal(value: str) -> str:
    """A SQL string literal holding exactly `value`."""
    if "\x00" in value:
        raise ValueError("a filter value cannot contain a NUL character")
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted identifier, for names made of letters, digits and underscores only."""
    if not _IDENT.fullmatch(name):
        raise ValueError(f"not a usable Athena name (letters, digits, underscores): {name!r}")
    return f'"{name}"'


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(literal(v) for v in values)})"


def _cloudtrail_time(t: dt.datetime) -> str:
    """eventTime as CloudTrail writes it (second precision, Z): such strings sort as times."""
    if t.tzinfo is None:
        raise ValueError("times must carry a UTC offset")
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class TrailFilter:
    start: dt.datetime  # inclusive
    end: dt.datetime  # inclusive
    principals: tuple[str, ...] = ()  # ARN, user name, principal id or access key id
    ips: tuple[str, ...] = ()
    event_names: tuple[str, ...] = ()
    partition_column: str | None = None  # a yyyy/MM/dd date partition to prune by


PRINCIPAL_FIELDS = (
    "useridentity.arn",
    "useridentity.username",
    "useridentity.principalid",
    "useridentity.accesskeyid",
    "useridentity.sessioncontext.sessionissuer.arn",
    "useridentity.sessioncontext.sessionissuer.username",
)


def where_sql(f: TrailFilter) -> str:
    if f.end < f.start:
        raise ValueError("the end of the time range is before its start")
    parts = [f"eventtime BETWEEN {literal(_cloudtrail_time(f.start))} AND {literal(_cloudtrail_time(f.end))}"]
    if f.partition_column:
        # Files sit under the day they were delivered, up to a day after the event: one day more.
        last = (f.end.astimezone(dt.UTC) + dt.timedelta(days=1)).strftime("%Y/%m/%d")
        first = f.start.astimezone(dt.UTC).strftime("%Y/%m/%d")
        parts.append(f"{ident(f.partition_column)} BETWEEN {literal(first)} AND {literal(last)}")
    if f.principals:
        parts.append("(" + " OR ".join(_in(c, f.principals) for c in PRINCIPAL_FIELDS) + ")")
    if f.ips:
        parts.append(_in("sourceipaddress", f.ips))
    if f.event_names:
        parts.append(_in("eventname", f.event_names))
    return "\n  AND ".join(parts)


def select_sql(
    database: str, table: str, f: TrailFilter, columns: tuple[tuple[str, str], ...] | None = None
) -> str:
    """The query for `f` over `database.table`, selecting `columns` (the table's own, when
    known; else the documented CloudTrail columns) with complex ones as JSON text."""
    cols = [c for c in (columns or COLUMNS) if c[0] not in PARTITIONS and c[0] != f.partition_column]
    select = ",\n  ".join(
        f"json_format(CAST({ident(n)} AS JSON)) AS {ident(n)}" if is_complex(t) else ident(n) for n, t in cols
    )
    return f"SELECT\n  {select}\nFROM {ident(database)}.{ident(table)}\nWHERE {where_sql(f)}"


@dataclass(frozen=True)
class TrailTable:
    """A CloudTrail table over a trail bucket, partitioned by account, region and day, with
    partition projection (no ALTER TABLE ADD PARTITION, no crawler)."""

    database: str
    table: str
    bucket: str
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    first_day: dt.date
    prefix: str = ""  # the trail's key prefix, before AWSLogs/
    org_id: str = ""  # an organization trail: AWSLogs/<org id>/<account>/...

    def check(self) -> None:
        checks = [
            (_BUCKET, self.bucket, "S3 bucket name"),
            (_PREFIX, self.prefix, "S3 key prefix"),
            *[(_ACCOUNT, a, "account id (12 digits)") for a in self.accounts],
            *[(_REGION, r, "region name") for r in self.regions],
        ]
        if self.org_id:
            checks.append((_ORG, self.org_id, "organization id"))
        for pattern, value, what in checks:
            if not pattern.fullmatch(value):
                raise ValueError(f"not a valid {what}: {value!r}")
        if not self.accounts or not self.regions:
            raise ValueError("the table needs at least one account and one region")
        for name in (self.database, self.table):
            ident(name)

    @property
    def root(self) -> str:
        prefix = self.prefix.strip("/")
        org = f"{self.org_id}/" if self.org_id else ""
        return f"s3://{self.bucket}/{prefix + '/' if prefix else ''}AWSLogs/{org}"


def create_table_sql(t: TrailTable) -> str:
    """CREATE EXTERNAL TABLE IF NOT EXISTS, with partition projection over accounts, regions, days."""
    t.check()
    cols = ",\n  ".join(f"`{n}` {typ}" for n, typ in COLUMNS)
    props = {
        "projection.enabled": "true",
        "projection.account.type": "enum",
        "projection.account.values": ",".join(t.accounts),
        "projection.region.type": "enum",
        "projection.region.values": ",".join(t.regions),
        "projection.timestamp.type": "date",
        "projection.timestamp.format": "yyyy/MM/dd",
        "projection.timestamp.range": f"{t.first_day:%Y/%m/%d},NOW",
        "projection.timestamp.interval": "1",
        "projection.timestamp.interval.unit": "DAYS",
        "storage.location.template": t.root + "${account}/CloudTrail/${region}/${timestamp}",
    }
    tblprops = ",\n  ".join(f"{literal(k)}={literal(v)}" for k, v in props.items())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{t.database}`.`{t.table}` (\n  {cols}\n)\n"
        "COMMENT 'CloudTrail logs, created by Caseline'\n"
        "PARTITIONED BY (`account` STRING, `region` STRING, `timestamp` STRING)\n"
        "ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'\n"
        "STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n"
        f"LOCATION {literal(t.root)}\n"
        f"TBLPROPERTIES (\n  {tblprops}\n)"
    )
