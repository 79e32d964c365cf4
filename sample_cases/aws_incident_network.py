"""The prod network and the security tooling of the AWS incident sample case: fixed ids only.

CloudTrail (``aws_incident_attack``, ``aws_incident_services``), the VPC flow logs
(``aws_incident_traffic``, ``aws_incident_flows``) and the GuardDuty findings
(``aws_incident_guardduty``) all quote these, so a student who pivots on an address, an ENI
or a finding id from one source finds it in the others. Like the key ids, everything is a literal or derived from a name, never drawn
from the RNG.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_incident_background import INSTANCES
from aws_incident_model import DEV, PROD, stable_hex

VPC_ID = "vpc-0d4c3b2a190817263"
VPC_CIDR = "10.20.0.0/16"
VPC_REGION = "us-east-1"
FLOW_BUCKET = "acme-vpc-flow-logs-222222222222"
# The flow log the intruder deleted is FLOW_LOG_ID in aws_incident_attack; this is the one
# the responder created (CreateFlowLogs answers with it).
NEW_FLOW_LOG_ID = "fl-07a9e3c1d5b2f4068"
FLOW_AGGREGATION_SECONDS = 600

# GuardDuty: the security account is the delegated administrator. Member detectors follow the
# background's per-account, per-region detector ids; the responder queried the administrator's.
ADMIN_DETECTOR = "6ac7d9e1b2f34a5c8d9e0f1a2b3c4d5e"
# The finding the responder opened at 08:51 (GetFindings in the security account's CloudTrail).
LOGGING_FINDING_ID = "a2c6f1e0b3d4" + stable_hex("finding:CloudTrailLoggingDisabled", 20)


def member_detector(account: str, region: str) -> str:
    """The detector id the background's ListFindings calls use for an account and region."""
    return stable_hex("gd" + account + region, 32)


@dataclass(frozen=True)
class Interface:
    """One network interface the prod VPC flow log captures."""

    eni: str
    private_ip: str
    subnet: str
    az: str
    az_id: str
    instance_id: str = "-"
    public_ip: str = ""
    name: str = ""


def _eni(name: str) -> str:
    return "eni-0" + stable_hex("eni:" + name, 16)


def _subnet(name: str) -> str:
    return "subnet-0" + stable_hex("subnet:" + name, 16)


SUBNET_APP_A, SUBNET_APP_B = _subnet("prod-app-a"), _subnet("prod-app-b")
_APP_1, _APP_2 = INSTANCES[(PROD, VPC_REGION)]
# The app servers have public addresses (a leftover from before the load balancer); the
# flow log records their private addresses, GuardDuty names both.
APP_SERVERS = (
    Interface(
        _eni("prod-app-1"),
        "10.20.1.17",
        SUBNET_APP_A,
        "us-east-1a",
        "use1-az2",
        _APP_1,
        "198.51.100.131",
        "app-1",
    ),
    Interface(
        _eni("prod-app-2"),
        "10.20.2.38",
        SUBNET_APP_B,
        "us-east-1b",
        "use1-az4",
        _APP_2,
        "198.51.100.132",
        "app-2",
    ),
)
# The interface endpoint CloudTrail names as vpcEndpointId for prod's VPC calls; its ENI sits
# in the first app subnet.
ENDPOINT = Interface(_eni("vpce-prod"), "10.20.1.200", SUBNET_APP_A, "us-east-1a", "use1-az2", name="vpce")
# The load balancer's node in each app server's zone (HTTPS listener, HTTPS target group).
LB_NODES = {"us-east-1a": "10.20.101.45", "us-east-1b": "10.20.102.77"}
APP_PORT = 443
# The only probed port the security groups left open to the internet: a debug listener on app-1.
OPEN_DEBUG_PORT = 8080
# Amazon Linux repositories are served from S3 (us-east-1 public range, reached through the
# S3 gateway endpoint): the one set of non-documentation addresses in the case.
S3_REPO_IPS = ("52.216.49.112", "52.217.131.8", "52.216.214.65")

# Every instance's one private address: the SSM agent's calls in CloudTrail come from it.
INSTANCE_IPS = {
    _APP_1: APP_SERVERS[0].private_ip,
    _APP_2: APP_SERVERS[1].private_ip,
    INSTANCES[(PROD, "eu-west-1")][0]: "10.22.1.24",
    INSTANCES[(DEV, "us-west-2")][0]: "10.40.3.61",
}
