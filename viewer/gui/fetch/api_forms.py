"""Forms for the API sources (LookupEvents, GuardDuty, CloudWatch Logs, Athena)."""
