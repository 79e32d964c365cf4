"""The identity part of the fetch panel: a profile or a keyring-held key, a role, a region.

Secrets typed here (secret key, session token, MFA code) live only in the widgets until the
fetch or the test reads them into a `CredentialChoice`; the secret fields are then cleared, the
key is stored in the OS keyring on the worker thread, and only its name is remembered.
"""

from __future__ import annotations

import dataclasses
import json

import boto3
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from viewer.gui.fetch.credentials import DEFAULT_KEY_NAME, CredentialChoice, list_profiles
from viewer.gui.fetch.source_forms import FormError

SETTINGS_KEY = "fetch/credentials"


def _regions() -> list[str]:
    try:
        return sorted(boto3.Session().get_available_regions("s3"))
    except Exception:  # noqa: BLE001 - a broken botocore data folder must not stop the panel
        return ["us-east-1"]


class Collapsible(QWidget):
    """A titled section that opens on click: optional settings out of the way until needed."""

    def __init__(self, title: str, body: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QToolButton(self)
        self.toggle.setText(title)
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.body = body
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.toggle)
        lay.addWidget(body)
        self.toggle.toggled.connect(self.set_open)
        self.set_open(False)

    def set_open(self, open_: bool) -> None:
        self.toggle.setChecked(open_)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)
        self.body.setVisible(open_)


class CredentialsForm(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.profile_radio = QRadioButton("AWS profile", self)
        self.key_radio = QRadioButton("Access key (kept in the OS keyring)", self)
        self.profile_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.profile_radio)
        group.addButton(self.key_radio)
        modes = QHBoxLayout()
        modes.addWidget(self.profile_radio)
        modes.addWidget(self.key_radio)
        modes.addStretch(1)

        self.profile_combo = QComboBox(self)
        self.profile_combo.setToolTip("Profiles of ~/.aws/config and ~/.aws/credentials, SSO ones included")
        self.reload_button = QPushButton("Reload", self)
        self.reload_button.setToolTip("Read the AWS config files again (after `aws sso login`, say)")
        self.reload_button.clicked.connect(self.reload_profiles)
        profile_page = QWidget(self)
        pl = QHBoxLayout(profile_page)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(self.profile_combo, 1)
        pl.addWidget(self.reload_button)

        key_page = QWidget(self)
        kf = QFormLayout(key_page)
        kf.setContentsMargins(0, 0, 0, 0)
        self.key_name = QLineEdit(DEFAULT_KEY_NAME, key_page)
        self.key_name.setToolTip("The name the key is kept under in the OS keyring")
        self.key_id = QLineEdit(key_page)
        self.key_id.setPlaceholderText("AKIA… (leave empty to use the stored key)")
        self.secret = QLineEdit(key_page)
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret.setPlaceholderText("secret access key")
        self.token = QLineEdit(key_page)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("(optional) session token")
        kf.addRow("Keyring name", self.key_name)
        kf.addRow("Access key ID", self.key_id)
        kf.addRow("Secret key", self.secret)
        kf.addRow("Session token", self.token)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(profile_page)
        self.pages.addWidget(key_page)
        self.key_radio.toggled.connect(lambda on: self.pages.setCurrentIndex(1 if on else 0))
        self.key_radio.toggled.connect(lambda _on: self._fit_pages())

        role = QWidget(self)
        rf = QFormLayout(role)
        rf.setContentsMargins(12, 0, 0, 0)
        self.role_arn = QLineEdit(role)
        self.role_arn.setPlaceholderText("arn:aws:iam::111122223333:role/Investigator")
        self.external_id = QLineEdit(role)
        self.mfa_serial = QLineEdit(role)
        self.mfa_serial.setPlaceholderText("arn:aws:iam::111122223333:mfa/me (if the role needs MFA)")
        self.mfa_code = QLineEdit(role)
        self.mfa_code.setEchoMode(QLineEdit.EchoMode.Password)
        self.mfa_code.setMaxLength(8)
        self.mfa_code.setPlaceholderText("6 digits")
        rf.addRow("Role ARN", self.role_arn)
        rf.addRow("External ID", self.external_id)
        rf.addRow("MFA device", self.mfa_serial)
        rf.addRow("MFA code", self.mfa_code)
        self.role_section = Collapsible("Assume a role (optional)", role, self)

        self.region = QComboBox(self)
        self.region.setEditable(True)
        self.region.addItems(_regions())
        self.region.setCurrentText("us-east-1")
        advanced = QWidget(self)
        af = QFormLayout(advanced)
        af.setContentsMargins(12, 0, 0, 0)
        self.endpoint_url = QLineEdit(advanced)
        self.endpoint_url.setPlaceholderText("(default AWS endpoints) e.g. a VPC endpoint or an emulator")
        af.addRow("Endpoint URL", self.endpoint_url)
        self.advanced_section = Collapsible("Advanced", advanced, self)

        region_row = QFormLayout()
        region_row.setContentsMargins(0, 0, 0, 0)
        region_row.addRow("Region", self.region)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(modes)
        lay.addWidget(self.pages)
        lay.addLayout(region_row)
        lay.addWidget(self.role_section)
        lay.addWidget(self.advanced_section)
        self.reload_profiles()
        self._fit_pages()

    def _fit_pages(self) -> None:
        """A stacked widget is as tall as its tallest page; the profile row needs one line."""
        current = self.pages.currentWidget()
        if current is not None:
            self.pages.setFixedHeight(current.sizeHint().height())

    def reload_profiles(self) -> None:
        current = self.profile_combo.currentData()
        self.profile_combo.clear()
        self.profile_combo.addItem("(default credential chain)", None)
        for p in list_profiles():
            self.profile_combo.addItem(p.label, p.name)
        self.profile_combo.setCurrentIndex(max(0, self.profile_combo.findData(current)))

    def choice(self) -> CredentialChoice:
        """The chosen identity (GUI thread). Typed secrets move into the choice and the fields
        are cleared: they are stored in the keyring when the choice is resolved."""
        region = self.region.currentText().strip() or None
        endpoint = self.endpoint_url.text().strip() or None
        if endpoint and not endpoint.startswith(("http://", "https://")):
            raise FormError("The endpoint URL starts with http:// or https://")
        role = self.role_arn.text().strip() or None
        if role and not role.startswith("arn:"):
            raise FormError("A role ARN starts with arn: (arn:aws:iam::ACCOUNT:role/NAME)")
        common = CredentialChoice(
            role_arn=role,
            external_id=(self.external_id.text().strip() or None) if role else None,
            mfa_serial=(self.mfa_serial.text().strip() or None) if role else None,
            mfa_code=self.mfa_code.text().strip() or None,
            region=region,
            endpoint_url=endpoint,
        )
        self.mfa_code.clear()  # a one-time code: read once
        if self.profile_radio.isChecked():
            return dataclasses.replace(common, profile=self.profile_combo.currentData())
        name = self.key_name.text().strip() or DEFAULT_KEY_NAME
        key_id, secret = self.key_id.text().strip(), self.secret.text().strip()
        if bool(key_id) != bool(secret):
            raise FormError(
                "Type both the access key ID and its secret, or leave both empty to use the key "
                f"stored as {name!r}."
            )
        new_key = (key_id, secret, self.token.text().strip()) if key_id else None
        if new_key is not None:
            for w in (self.key_id, self.secret, self.token):
                w.clear()
            self.key_id.setPlaceholderText(f"(stored in the keyring as {name!r}; type to replace)")
        return dataclasses.replace(common, keyring_name=name, new_key=new_key)

    def save(self, settings: QSettings) -> None:
        """Remember names and options; never the key, the secret, the token or the MFA code."""
        values = {
            "mode": "key" if self.key_radio.isChecked() else "profile",
            "profile": self.profile_combo.currentData(),
            "keyring_name": self.key_name.text().strip(),
            "role_arn": self.role_arn.text().strip(),
            "external_id": self.external_id.text().strip(),
            "mfa_serial": self.mfa_serial.text().strip(),
            "region": self.region.currentText().strip(),
            "endpoint_url": self.endpoint_url.text().strip(),
        }
        settings.setValue(SETTINGS_KEY, json.dumps(values))

    def restore(self, settings: QSettings) -> None:
        try:
            values = json.loads(str(settings.value(SETTINGS_KEY) or "{}"))
        except ValueError:
            return
        self.key_radio.setChecked(values.get("mode") == "key")
        self.profile_radio.setChecked(values.get("mode") != "key")
        self.profile_combo.setCurrentIndex(max(0, self.profile_combo.findData(values.get("profile"))))
        if values.get("keyring_name"):
            self.key_name.setText(values["keyring_name"])
            self.key_id.setPlaceholderText(
                f"(using the key stored as {values['keyring_name']!r}; type to replace)"
            )
        for name in ("role_arn", "external_id", "mfa_serial", "endpoint_url"):
            getattr(self, name).setText(values.get(name, ""))
        if values.get("region"):
            self.region.setCurrentText(values["region"])
        self.role_section.set_open(bool(values.get("role_arn")))
        self.advanced_section.set_open(bool(values.get("endpoint_url")))
