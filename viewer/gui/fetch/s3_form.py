"""The CloudTrail trail bucket form (`caseline fetch CASE aws-s3`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QWidget

from viewer.core.case_file import CaseFile
from viewer.core.fetch import s3_trail
from viewer.core.fetch.acquisition import FetchReport
from viewer.core.fetch.aws_auth import AwsTarget
from viewer.core.jobs import JobContext
from viewer.gui.fetch.source_forms import FormError, SourceForm, py_date, register, words
from viewer.gui.fetch.texts import megabytes


@register
class S3TrailForm(SourceForm):
    key = "aws-s3"
    order = 0
    title = "CloudTrail trail bucket (S3)"
    hint = "Logs and digests listed by day; what is already downloaded or imported is skipped."

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bucket = self.line("bucket", "Bucket", "my-cloudtrail-bucket")
        self.prefix = self.line("prefix", "Key prefix", "(optional) the trail's prefix before AWSLogs/")
        self.accounts = self.line("accounts", "Accounts", "all; or 111122223333, 444455556666")
        self.regions = self.line("regions", "Regions", "all; or us-east-1 eu-west-1")
        self.start = self.day("start", "From (UTC day)", 7)
        self.end = self.day("end", "To (UTC day)", 0)
        self.digests = self.check("digests", "Digest files too (integrity check)", True)

    def request(self) -> s3_trail.S3TrailRequest:
        bucket = self.bucket.text().strip()
        if not bucket:
            raise FormError("Enter the trail's bucket name.")
        if bucket.startswith("s3://"):
            bucket = bucket[5:].strip("/")
        start, end = py_date(self.start), py_date(self.end)
        if end < start:
            raise FormError("The last day is before the first.")
        accounts = words(self.accounts.text())
        bad = [a for a in accounts if not (a.isdigit() and len(a) == 12)]
        if bad:
            raise FormError(f"An account id is 12 digits: {', '.join(bad)}")
        return s3_trail.S3TrailRequest(
            bucket,
            start,
            end,
            prefix=self.prefix.text().strip().strip("/"),
            accounts=accounts,
            regions=words(self.regions.text()),
            digests=self.digests.isChecked(),
        )

    def estimate(self, target: AwsTarget, request: Any, cache: Path | None) -> str:
        n, size = s3_trail.estimate(target, request)
        if not n:
            return "No trail objects in that bucket, prefix and date range."
        return f"{n:,} objects, {megabytes(size)} to download (less what an earlier fetch already has)."

    def fetch(
        self, case: CaseFile, target: AwsTarget, request: Any, cache: Path, ctx: JobContext
    ) -> FetchReport:
        return s3_trail.fetch(case, target, request, cache, ctx)
