"""Typed errors and the exit-code taxonomy the CLI maps them to.

A page's failure is recorded on the page (quarantine) and never raised through the
batch; these errors are for whole-command failures.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    ok = 0
    bad_args = 1
    input_error = 2  # batch folder, manifest or register file unreadable
    missing_dependency = 3
    pages_failed = 4  # the command ran; some pages are quarantined or need re-scan
    storage_error = 5
    database_error = 6
    invalid_config = 9
    archive_refused = 10  # a PDF/A copy failed validation
    audit_findings = 11  # fixity audit found damaged or missing objects
    other_error = 15
    ctrl_c = 130


class HukouError(Exception):
    """Base class: carries the exit code the CLI uses."""

    exit_code: ExitCode = ExitCode.other_error


class BatchError(HukouError):
    """The batch folder or its manifest cannot be used."""

    exit_code = ExitCode.input_error


class RegisterError(HukouError):
    """The register CSV cannot be read."""

    exit_code = ExitCode.input_error


class NotFound(HukouError):
    """A batch or page id that the database does not know."""

    exit_code = ExitCode.bad_args
