"""The fetch panel against a moto server over real HTTP: identity, estimate, fetch, cancel, resume,
and secrets kept out of the settings and the case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import keyring
import pytest
from PySide6.QtCore import QDate, QSettings, Qt

from viewer.core.fetch import s3_trail
from viewer.gui.fetch import FetchFeature
from viewer.gui.fetch.panel import FetchPanel

from .conftest import ACCOUNT, BUCKET

LONG_MS = 120_000
SECRET = "gUiSeCrEt/0123456789abcdefghijklmnopqrstu"
TOKEN = "gUiToKeN-FQoGZXIvYXdzEXAMPLEsessiontoken"


def window_with_case(
    qtbot: Any, settings: QSettings, path: Path, read_only: bool = False
) -> tuple[Any, FetchFeature]:
    from viewer.gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    if read_only:
        assert win.new_case(path) and win.close_case()
        assert win.open_case(path, read_only=True)
    else:
        assert win.new_case(path)
    return win, next(f for f in win.features if isinstance(f, FetchFeature))


def fill_s3(panel: FetchPanel, moto_url: str, trail: dict, bucket: str = BUCKET) -> None:
    panel.credentials.advanced_section.set_open(True)
    panel.credentials.endpoint_url.setText(moto_url)
    panel.credentials.region.setCurrentText("us-east-1")
    form = panel.forms["aws-s3"]
    panel.source_combo.setCurrentIndex(panel.source_combo.findData("aws-s3"))
    form.bucket.setText(bucket)
    form.prefix.setText("trails")
    form.accounts.setText(ACCOUNT)
    form.start.setDate(QDate.fromString(trail["first_day"], Qt.DateFormat.ISODate))
    form.end.setDate(QDate.fromString(trail["last_day"], Qt.DateFormat.ISODate))
    form.digests.setChecked(False)


def _events(win: Any) -> int:
    return int(win.session.case.cursor().execute("SELECT count(*) FROM events").fetchall()[0][0])


def _click(qtbot: Any, button: Any) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_test_connection_shows_the_identity_moto_reports(
    qtbot: Any, settings: QSettings, tmp_path: Path, moto_url: str
) -> None:
    win, feature = window_with_case(qtbot, settings, tmp_path / "c.caseline")
    assert feature.action.isEnabled() and feature.action.shortcut().toString() == "Ctrl+Shift+I"
    feature.action.trigger()
    panel = feature.panel
    assert panel is not None and feature.dock is not None and feature.dock.isVisible()
    assert win.timeline.isVisibleTo(win) or win.stack.isVisible()  # the dock is beside, not over
    panel.credentials.advanced_section.set_open(True)
    panel.credentials.endpoint_url.setText(moto_url)
    with qtbot.waitSignal(panel.identityShown, timeout=LONG_MS) as shown:
        _click(qtbot, panel.test_button)
    truth = boto3.client("sts", endpoint_url=moto_url, region_name="us-east-1").get_caller_identity()
    assert shown.args[0]["arn"] == truth["Arn"] and shown.args[0]["account"] == truth["Account"]
    assert truth["Arn"] in panel.identity_label.text()


def test_profiles_come_from_the_config_files_sso_included(
    qtbot: Any, settings: QSettings, tmp_path: Path, aws_config: Path
) -> None:
    aws_config.write_text(
        "[profile investigator-sso]\nsso_session = corp\nsso_account_id = 111122223333\n"
        "sso_role_name = Investigator\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
        "sso_region = us-east-1\n[profile audit]\nrole_arn = arn:aws:iam::111122223333:role/Audit\n"
        "source_profile = investigator-sso\n"
    )
    _win, feature = window_with_case(qtbot, settings, tmp_path / "c.caseline")
    panel = feature.show()
    assert panel is not None
    combo = panel.credentials.profile_combo
    items = {combo.itemData(i): combo.itemText(i) for i in range(combo.count())}
    assert items["investigator-sso"].endswith("(SSO)") and items["audit"].endswith("(role)")
    assert None in items  # the default credential chain stays available


def test_estimate_then_fetch_imports_every_record_and_refreshes_the_window(
    qtbot: Any, settings: QSettings, tmp_path: Path, moto_url: str, trail: dict
) -> None:
    win, feature = window_with_case(qtbot, settings, tmp_path / "c.caseline")
    panel = feature.show()
    assert panel is not None
    fill_s3(panel, moto_url, trail)
    with qtbot.waitSignal(panel.estimateShown, timeout=LONG_MS) as est:
        _click(qtbot, panel.estimate_button)
    assert f"{trail['objects']:,} objects" in est.args[0]
    with qtbot.waitSignal(panel.fetched, timeout=LONG_MS) as done:
        _click(qtbot, panel.fetch_button)
        assert panel.running and panel.cancel_button.isVisible() and not panel.fetch_button.isEnabled()
    acq = done.args[0].acquisition
    assert acq.downloaded == trail["objects"] and not acq.failed
    assert _events(win) == trail["records"] == acq.records_imported
    kinds = win.session.case.cursor().execute("SELECT DISTINCT kind FROM imports").fetchall()
    assert kinds == [("live:aws-s3",)]
    qtbot.waitUntil(lambda: win.count_label.text() == f"{trail['records']:,} events in case", timeout=LONG_MS)
    qtbot.waitUntil(lambda: win.table_model.rowCount() == trail["records"], timeout=LONG_MS)
    assert "downloaded" in panel.summary.text() and panel.fetch_button.text() == "Fetch"
    assert win.statusBar().currentMessage().startswith(f"Fetch finished: {trail['records']:,} records")


def test_cancel_keeps_whole_batches_and_resume_completes_the_fetch(
    qtbot: Any,
    settings: QSettings,
    tmp_path: Path,
    moto_url: str,
    trail: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(s3_trail, "BATCH_FILES", 20)  # many batches, so Cancel lands mid-fetch
    win, feature = window_with_case(qtbot, settings, tmp_path / "c.caseline")
    panel = feature.show()
    assert panel is not None
    fill_s3(panel, moto_url, trail)

    def cancel_after_first_batch(p: Any) -> None:
        if p.phase.startswith("imported"):
            panel.cancel()

    with qtbot.waitSignal(panel.fetchEnded, timeout=LONG_MS):
        _click(qtbot, panel.fetch_button)
        assert panel.handle is not None
        panel.handle.progress.connect(cancel_after_first_batch)
    assert panel.last_report is None and panel.fetch_button.text() == "Resume"
    partial = _events(win)
    assert 0 < partial < trail["records"]
    # Consistent: every import in the ledger finished, and the events are exactly what they kept.
    ledger = (
        win.session.case.cursor()
        .execute("SELECT count(*) FILTER (WHERE finished_at IS NULL), sum(records_kept) FROM imports")
        .fetchall()[0]
    )
    assert ledger == (0, partial)
    qtbot.waitUntil(lambda: win.count_label.text() == f"{partial:,} events in case", timeout=LONG_MS)

    with qtbot.waitSignal(panel.fetched, timeout=LONG_MS) as done:
        _click(qtbot, panel.fetch_button)
    acq = done.args[0].acquisition
    assert acq.already_downloaded > 0 and acq.already_downloaded + acq.downloaded == trail["objects"]
    assert _events(win) == trail["records"]
    assert panel.fetch_button.text() == "Fetch"
    qtbot.waitUntil(lambda: win.count_label.text() == f"{trail['records']:,} events in case", timeout=LONG_MS)


def test_a_typed_key_goes_to_the_keyring_never_to_settings_or_the_case(
    qtbot: Any, settings: QSettings, tmp_path: Path, moto_url: str, trail: dict
) -> None:
    case_path = tmp_path / "c.caseline"
    win, feature = window_with_case(qtbot, settings, case_path)
    panel = feature.show()
    assert panel is not None
    fill_s3(panel, moto_url, trail)
    panel.forms["aws-s3"].end.setDate(panel.forms["aws-s3"].start.date())  # one day is enough here
    creds = panel.credentials
    creds.key_radio.setChecked(True)
    assert creds.secret.echoMode() == creds.secret.EchoMode.Password
    creds.key_name.setText("gui-investigation")
    creds.key_id.setText("AKIAI44QH8DHBEXAMPLE")
    creds.secret.setText(SECRET)
    creds.token.setText(TOKEN)
    with qtbot.waitSignal(panel.identityShown, timeout=LONG_MS):
        _click(qtbot, panel.test_button)
    assert creds.secret.text() == "" and creds.token.text() == ""  # moved to the keyring
    stored = keyring.get_password("caseline", "aws:gui-investigation")
    assert stored is not None and SECRET in stored and TOKEN in stored
    with qtbot.waitSignal(panel.fetched, timeout=LONG_MS) as done:
        _click(qtbot, panel.fetch_button)  # uses the stored key by its name
    assert done.args[0].acquisition.target["keyring_name"] == "gui-investigation"
    assert _events(win) > 0
    settings.sync()
    raw_settings = Path(settings.fileName()).read_bytes()
    assert b"gui-investigation" in raw_settings
    assert SECRET.encode() not in raw_settings and TOKEN.encode() not in raw_settings
    assert b"AKIAI44QH8DHBEXAMPLE" not in raw_settings
    assert win.close_case()
    raw_case = case_path.read_bytes()
    assert SECRET.encode() not in raw_case and TOKEN.encode() not in raw_case


def test_bad_input_and_a_missing_bucket_are_said_clearly(
    qtbot: Any, settings: QSettings, tmp_path: Path, moto_url: str, trail: dict
) -> None:
    win, feature = window_with_case(qtbot, settings, tmp_path / "c.caseline")
    panel = feature.show()
    assert panel is not None
    fill_s3(panel, moto_url, trail, bucket="")
    _click(qtbot, panel.fetch_button)
    assert not panel.running and "bucket name" in panel.status_label.text()
    panel.forms["aws-s3"].bucket.setText("no-such-bucket")
    with qtbot.waitSignal(panel.failedShown, timeout=LONG_MS) as failed:
        _click(qtbot, panel.fetch_button)
    assert "no bucket named 'no-such-bucket'" in failed.args[0]
    assert panel.fetch_button.text() == "Resume" and _events(win) == 0


def test_read_only_cases_cannot_be_fetched_into(qtbot: Any, settings: QSettings, tmp_path: Path) -> None:
    win, feature = window_with_case(qtbot, settings, tmp_path / "c.caseline", read_only=True)
    assert win.session is not None and win.session.read_only
    assert not feature.action.isEnabled() and feature.show() is None


def test_settings_are_remembered_without_secrets(
    qtbot: Any, settings: QSettings, tmp_path: Path, moto_url: str, trail: dict
) -> None:
    _win, feature = window_with_case(qtbot, settings, tmp_path / "c.caseline")
    panel = feature.show()
    assert panel is not None
    fill_s3(panel, moto_url, trail)
    panel.credentials.role_arn.setText("arn:aws:iam::123456789012:role/Investigator")
    panel.save()
    again = FetchPanel(settings)
    qtbot.addWidget(again)
    assert again.forms["aws-s3"].bucket.text() == BUCKET
    assert again.forms["aws-s3"].start.date() == QDate.fromString(trail["first_day"], Qt.DateFormat.ISODate)
    assert again.credentials.endpoint_url.text() == moto_url
    assert again.credentials.role_arn.text() == "arn:aws:iam::123456789012:role/Investigator"
    assert again.credentials.role_section.toggle.isChecked()


def test_an_mfa_role_is_assumed_once_and_its_identity_shown(
    qtbot: Any, settings: QSettings, tmp_path: Path, moto_url: str
) -> None:
    _win, feature = window_with_case(qtbot, settings, tmp_path / "c.caseline")
    panel = feature.show()
    assert panel is not None
    creds = panel.credentials
    creds.advanced_section.set_open(True)
    creds.endpoint_url.setText(moto_url)
    creds.role_section.set_open(True)
    creds.role_arn.setText("arn:aws:iam::123456789012:role/Investigator")
    creds.external_id.setText("case-42")
    creds.mfa_serial.setText("arn:aws:iam::123456789012:mfa/analyst")
    with qtbot.waitSignal(panel.failedShown, timeout=LONG_MS) as failed:
        _click(qtbot, panel.test_button)
    assert "MFA code" in failed.args[0]
    creds.mfa_code.setText("123456")
    with qtbot.waitSignal(panel.identityShown, timeout=LONG_MS) as shown:
        _click(qtbot, panel.test_button)
    assert ":assumed-role/Investigator/" in shown.args[0]["arn"]
    assert creds.mfa_code.text() == ""  # a one-time code is not kept in the field
    with qtbot.waitSignal(panel.identityShown, timeout=LONG_MS) as again:
        _click(qtbot, panel.test_button)  # no new code: the session the code opened is reused
    assert again.args[0]["arn"] == shown.args[0]["arn"]
    settings.sync()
    assert b"mfa_code" not in Path(settings.fileName()).read_bytes()


def test_every_registered_source_has_a_form_that_checks_its_fields(qtbot: Any, settings: QSettings) -> None:
    from viewer.gui.fetch.source_forms import FormError

    panel = FetchPanel(settings)
    qtbot.addWidget(panel)
    assert list(panel.forms) == ["aws-s3", "aws-lookup", "aws-guardduty", "aws-logs", "aws-athena"]
    lookup = panel.forms["aws-lookup"]
    lookup.attribute.setText("Colour=blue")
    with pytest.raises(FormError, match="Key=Value"):
        lookup.request()
    lookup.attribute.setText("Username=alice")
    assert lookup.request().attribute == ("Username", "alice")
    athena_form = panel.forms["aws-athena"]
    with pytest.raises(FormError, match="table"):
        athena_form.request()
    athena_form.table.setText("trail")
    athena_form.output.setText("s3://results/caseline/")
    assert athena_form.request().filter is not None
    guard = panel.forms["aws-guardduty"]
    guard.end.setDateTime(guard.start.dateTime())
    with pytest.raises(FormError, match="not after its start"):
        guard.request()


def test_cloudwatch_logs_form_estimates_and_fetches_a_log_group(
    qtbot: Any, settings: QSettings, tmp_path: Path, moto_url: str
) -> None:
    import datetime as dt

    group, n = "/caseline/gui-app", 40
    logs = boto3.client("logs", endpoint_url=moto_url, region_name="us-east-1")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="web-1")
    # CloudWatch (and moto) refuse events older than 14 days: the last hours, on whole minutes.
    t0 = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(hours=2)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="web-1",
        logEvents=[
            {
                "timestamp": int((t0 + dt.timedelta(seconds=10 * i)).timestamp() * 1000),
                "message": f"GET /item/{i} 200",
            }
            for i in range(n)
        ],
    )
    win, feature = window_with_case(qtbot, settings, tmp_path / "c.caseline")
    panel = feature.show()
    assert panel is not None
    panel.credentials.advanced_section.set_open(True)
    panel.credentials.endpoint_url.setText(moto_url)
    panel.source_combo.setCurrentIndex(panel.source_combo.findData("aws-logs"))
    form = panel.forms["aws-logs"]
    assert panel.form_stack.currentWidget() is form
    form.group.setText(group)
    span = (t0 - dt.timedelta(hours=1), t0 + dt.timedelta(hours=1))
    form.set_values(
        {k: v.strftime("%Y-%m-%dT%H:%M:%SZ") for k, v in zip(("start", "end"), span, strict=True)}
    )
    with qtbot.waitSignal(panel.estimateShown, timeout=LONG_MS) as est:
        _click(qtbot, panel.estimate_button)
    assert f"log group {group}" in est.args[0]
    with qtbot.waitSignal(panel.fetched, timeout=LONG_MS) as done:
        _click(qtbot, panel.fetch_button)
    assert done.args[0].acquisition.records_retrieved == n
    assert _events(win) == n
    assert "API calls" in panel.summary.text()


def test_lookup_events_form_estimates_and_fetches_through_the_local_aws_endpoint(
    qtbot: Any, settings: QSettings, tmp_path: Path
) -> None:
    import datetime as dt
    import uuid

    from tests.fetch.aws_json_server import AwsJsonServer, ServerData

    t0 = dt.datetime(2024, 3, 12, 8, 0, tzinfo=dt.UTC)
    records = [
        {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::222222222222:user/ci"},
            "eventTime": (t0 + dt.timedelta(minutes=7 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "ec2.amazonaws.com",
            "eventName": "DescribeInstances",
            "awsRegion": "us-east-1",
            "sourceIPAddress": f"198.51.100.{i}",
            "eventID": str(uuid.UUID(int=9000 + i)),
            "eventType": "AwsApiCall",
            "recipientAccountId": "222222222222",
        }
        for i in range(60)
    ]
    server = AwsJsonServer(ServerData(events={"us-east-1": records}, page_size=25)).start()
    try:
        win, feature = window_with_case(qtbot, settings, tmp_path / "c.caseline")
        panel = feature.show()
        assert panel is not None
        panel.credentials.advanced_section.set_open(True)
        panel.credentials.endpoint_url.setText(server.url)
        panel.source_combo.setCurrentIndex(panel.source_combo.findData("aws-lookup"))
        form = panel.forms["aws-lookup"]
        form.set_values(
            {"start": "2024-03-12T00:00:00Z", "end": "2024-03-13T00:00:00Z", "regions": "us-east-1"}
        )
        with qtbot.waitSignal(panel.estimateShown, timeout=LONG_MS) as est:
            _click(qtbot, panel.estimate_button)
        assert est.args[0].startswith("1 windows")
        with qtbot.waitSignal(panel.fetched, timeout=LONG_MS) as done:
            _click(qtbot, panel.fetch_button)
        acq = done.args[0].acquisition
        assert acq.records_retrieved == len(records) and acq.pages == len(server.api_calls("LookupEvents"))
        uids = {r[0] for r in win.session.case.cursor().execute("SELECT event_uid FROM events").fetchall()}
        assert uids == {r["eventID"] for r in records}
    finally:
        server.stop()
