"""The logName expressions of the GCP formats (viewer/formats/gcp_audit.py) are string functions;
they must give what the regular expressions they replaced gave, on real names and odd ones."""

from __future__ import annotations

import duckdb
import pytest

from viewer.formats import gcp_audit

# What the mapping computed before, with regexp_extract (the reference).
OLD_LOG_ID = "nullif(replace(regexp_extract(n, '/logs/(.+)$', 1), '%2F', '/'), '')"
OLD_PARENT = (
    "coalesce(nullif(regexp_extract(n, '^projects/([^/]+)/', 1), ''), "
    "nullif(regexp_extract(n, '^((organizations|folders|billingAccounts)/[^/]+)/', 1), ''))"
)
OLD_CLASS = (
    f"CASE regexp_extract({OLD_LOG_ID}, '/([a-z_]+)$', 1) "
    "WHEN 'activity' THEN 'Admin Activity' WHEN 'data_access' THEN 'Data Access' "
    "WHEN 'system_event' THEN 'System Event' WHEN 'policy' THEN 'Policy Denied' END"
)

NAMES = [
    "projects/p1/logs/cloudaudit.googleapis.com%2Factivity",
    "projects/my-proj-2/logs/cloudaudit.googleapis.com%2Fdata_access",
    "organizations/1234567/logs/cloudaudit.googleapis.com%2Fpolicy",
    "folders/99/logs/cloudaudit.googleapis.com%2Fsystem_event",
    "billingAccounts/0A1B2C-3D4E5F/logs/cloudaudit.googleapis.com%2Factivity",
    "projects/p/logs/compute.googleapis.com%2Fvpc_flows",
    "projects/p/logs/a%2Fb%2Fpolicy",
    "projects/p/logs/cloudaudit.googleapis.com%2Factivity/",
    "projects/p/logs/x/Activity",
    "projects/p/logs/activity",
    "projects/p/logs/my-log",
    "projects/p/logs/",
    "projects//logs/x",
    "projects/p",
    "projects/",
    "projects/p/",
    "folders/1",
    "folders/1/",
    "organisations/1/logs/x",
    "a/logs/b/logs/c%2Fdata_access",
    "logs/x",
    "/logs/x",
    "projects/p/notlogs/x",
    "",
    None,
]


@pytest.mark.parametrize(
    ("new", "old"),
    [
        (gcp_audit.log_id("n"), OLD_LOG_ID),
        (gcp_audit.logname_parent("n"), OLD_PARENT),
        (gcp_audit._COLUMNS["event_class"].replace("{logName}", "n"), OLD_CLASS),
    ],
    ids=["log_id", "logname_parent", "event_class"],
)
def test_logname_expressions_give_what_the_regular_expressions_gave(new: str, old: str) -> None:
    con = duckdb.connect()
    rows = con.execute(f"SELECT n, {new}, {old} FROM (SELECT unnest(?::VARCHAR[]) AS n)", [NAMES]).fetchall()
    assert len(rows) == len(NAMES)
    assert [(n, got) for n, got, _ in rows] == [(n, want) for n, _, want in rows]
    # Not vacuous: the names give several different answers, NULL among them.
    assert len({want for *_, want in rows}) >= 4 and None in {want for *_, want in rows}
