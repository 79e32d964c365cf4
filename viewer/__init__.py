"""Caseline: offline desktop forensics for cloud logs."""

__version__ = "0.1.0"
