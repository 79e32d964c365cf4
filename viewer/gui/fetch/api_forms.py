"""Forms for the API sources: CloudTrail LookupEvents, GuardDuty, CloudWatch Logs, Athena.

Each form only reads its fields into the source's request and calls the source's public
`estimate`/`fetch` (the same calls as `caseline fetch CASE aws-lookup|aws-guardduty|aws-logs|
aws-athena`). Times are UTC, shown with their offset.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QWidget

from viewer.core.case_file import CaseFile
from viewer.core.fetch import athena, athena_sql, cloudwatch_logs, guardduty, lookup_events
from viewer.core.fetch.acquisition import FetchReport
from viewer.core.fetch.aws_auth import AwsTarget, FetchError
from viewer.core.jobs import JobContext
from viewer.gui.fetch.source_forms import FormError, SourceForm, register, utc, words
from viewer.gui.fetch.texts import megabytes


class _TimedForm(SourceForm):
    """A form whose request has a UTC time range (start inclusive)."""

    def __init__(self, parent: QWidget | None = None, days: int = 1) -> None:
        super().__init__(parent)
        self.start = self.moment("start", "From (UTC)", days)
        self.end = self.moment("end", "To (UTC)", 0)
        self.end.setDateTime(self.end.dateTime().addDays(1))

    def time_range(self) -> tuple[dt.datetime, dt.datetime]:
        start, end = utc(self.start), utc(self.end)
        if end <= start:
            raise FormError("The end of the time range is not after its start.")
        return start, end


@register
class LookupEventsForm(_TimedForm):
    key = "aws-lookup"
    order = 10
    title = "CloudTrail Event history (LookupEvents)"
    hint = (
        "Management events of the last 90 days, 2 requests/s per region: slow but needs no trail. "
        "Resumes from the last page fetched."
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, days=1)
        self.regions = self.line("regions", "Regions", "the credentials' region; or us-east-1 eu-west-1")
        self.attribute = self.line(
            "attribute", "Filter", "(optional) one Key=Value, e.g. Username=alice or EventName=ConsoleLogin"
        )
        self.window_hours = self.spin("window_hours", "Window", 1, 24 * 7, 24, " h")

    def request(self) -> lookup_events.LookupRequest:
        start, end = self.time_range()
        attr = self.attribute.text().strip()
        try:
            attribute = lookup_events.parse_attribute(attr) if attr else None
        except FetchError as exc:
            raise FormError(str(exc)) from None
        return lookup_events.LookupRequest(
            start,
            end,
            regions=words(self.regions.text()),
            attribute=attribute,
            window=dt.timedelta(hours=self.window_hours.value()),
        )

    def estimate(self, target: AwsTarget, request: Any, cache: Path | None) -> str:
        return lookup_events.estimate(target, request, cache).describe()

    def fetch(
        self, case: CaseFile, target: AwsTarget, request: Any, cache: Path, ctx: JobContext
    ) -> FetchReport:
        return lookup_events.fetch(case, target, request, cache, ctx)


@register
class GuardDutyForm(_TimedForm):
    key = "aws-guardduty"
    order = 20
    title = "GuardDuty findings"
    hint = "Findings of every detector in the region (or one), by severity and time."

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, days=30)
        self.detector = self.line("detector", "Detector", "(optional) every detector of the region")
        self.severity = self.spin("min_severity", "Min severity", 0, 10, 0)
        self.severity.setSpecialValueText("any")
        self.time_field = self.choice(
            "time_field", "Time is", [("last updated", "updatedAt"), ("created", "createdAt")]
        )
        self.archived = self.check("archived", "Archived findings too", False)

    def request(self) -> guardduty.FindingsRequest:
        start, end = self.time_range()
        return guardduty.FindingsRequest(
            start,
            end,
            detector_id=self.detector.text().strip() or None,
            min_severity=self.severity.value() or None,
            time_field=str(self.time_field.currentData()),
            include_archived=self.archived.isChecked(),
        )

    def estimate(self, target: AwsTarget, request: Any, cache: Path | None) -> str:
        return guardduty.estimate(target, request, cache).describe()

    def fetch(
        self, case: CaseFile, target: AwsTarget, request: Any, cache: Path, ctx: JobContext
    ) -> FetchReport:
        return guardduty.fetch(case, target, request, cache, ctx)


@register
class CloudWatchLogsForm(_TimedForm):
    key = "aws-logs"
    order = 30
    title = "CloudWatch Logs"
    hint = (
        "FilterLogEvents with an optional pattern, or a Logs Insights query (windows split while a "
        "query hits its result limit)."
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, days=1)
        self.group = self.line("group", "Log group", "/aws/cloudtrail/org or /aws/eks/prod/cluster")
        self.pattern = self.line(
            "pattern", "Pattern", "(optional) a filter pattern, e.g. { $.errorCode = * }"
        )
        self.streams = self.line("streams", "Streams", "(optional) only these log streams")
        self.insights = self.text("insights", "Insights", "(optional) a Logs Insights query instead")
        self.result_limit = self.spin("result_limit", "Result limit", 100, 10_000, 10_000, " rows")

    def request(self) -> cloudwatch_logs.LogsRequest:
        group = self.group.text().strip()
        if not group:
            raise FormError("Enter the log group's name (Estimate lists the groups it matches).")
        start, end = self.time_range()
        return cloudwatch_logs.LogsRequest(
            group,
            start,
            end,
            pattern=self.pattern.text().strip(),
            streams=words(self.streams.text()),
            insights=self.insights.toPlainText().strip(),
            result_limit=self.result_limit.value(),
        )

    def estimate(self, target: AwsTarget, request: Any, cache: Path | None) -> str:
        groups = cloudwatch_logs.list_log_groups(target, request.group)
        exact = [g for g in groups if g.get("logGroupName") == request.group]
        if not exact:
            others = ", ".join(str(g.get("logGroupName")) for g in groups[:5])
            return f"No log group named {request.group!r}" + (
                f" (groups starting so: {others})" if others else ""
            )
        stored = int(exact[0].get("storedBytes") or 0)
        how = "a Logs Insights query per window" if request.insights else "FilterLogEvents pages"
        return f"log group {request.group}: {megabytes(stored)} stored in all; fetched by {how}."

    def fetch(
        self, case: CaseFile, target: AwsTarget, request: Any, cache: Path, ctx: JobContext
    ) -> FetchReport:
        return cloudwatch_logs.fetch(case, target, request, cache, ctx)


@register
class AthenaForm(_TimedForm):
    key = "aws-athena"
    order = 40
    title = "Athena over a CloudTrail table"
    hint = (
        "For trails too big to download: the query runs in Athena and only its rows are imported. "
        "Leave SQL empty to generate it from the filters."
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, days=1)
        self.database = self.line("database", "Database", "default")
        self.table = self.line("table", "Table", "cloudtrail_logs")
        self.principals = self.line("principals", "Principals", "(optional) ARNs, user names or key ids")
        self.ips = self.line("ips", "Source IPs", "(optional) 203.0.113.7 …")
        self.event_names = self.line("event_names", "Event names", "(optional) ConsoleLogin AssumeRole …")
        self.partition = self.line("partition", "Day partition", "(optional) the table's yyyy/MM/dd column")
        self.sql = self.text("sql", "Or SQL", "(optional) your own SELECT over the CloudTrail table")
        self.output = self.line("output", "Results to", "s3://bucket/prefix/ (or the workgroup's)")
        self.workgroup = self.line("workgroup", "Workgroup", "(optional) primary")

    def request(self) -> athena.AthenaRequest:
        start, end = self.time_range()
        sql = self.sql.toPlainText().strip()
        table = self.table.text().strip()
        if not sql and not table:
            raise FormError("Name the CloudTrail table (or write the SQL yourself).")
        output = self.output.text().strip() or None
        if output and not output.startswith("s3://"):
            raise FormError("Athena's results go to an s3:// location.")
        filt = None
        if not sql:
            filt = athena_sql.TrailFilter(
                start,
                end,
                principals=words(self.principals.text()),
                ips=words(self.ips.text()),
                event_names=words(self.event_names.text()),
                partition_column=self.partition.text().strip() or None,
            )
        return athena.AthenaRequest(
            sql=sql,
            table=table,
            filter=filt,
            database=self.database.text().strip() or "default",
            output_location=output,
            workgroup=self.workgroup.text().strip() or None,
        )

    def estimate(self, target: AwsTarget, request: Any, cache: Path | None) -> str:
        sql = request.sql or athena_sql.select_sql(request.database, request.table, request.filter)
        return (
            "Athena bills the data the query scans; it cannot say how much before running. "
            f"The query: {' '.join(sql.split())}"
        )

    def fetch(
        self, case: CaseFile, target: AwsTarget, request: Any, cache: Path, ctx: JobContext
    ) -> FetchReport:
        return athena.fetch(case, target, request, cache, ctx)
