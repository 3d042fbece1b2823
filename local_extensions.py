"""Template-side extensions that cookiecutter loads in its own process (`_extensions` in
cookiecutter.json); the hooks run in child processes and cannot reach it.

`QuietHookFailure`: when the pre-generation hook refuses the answers, it prints the
`ERROR:` lines and the fix, and exits 1. cookiecutter 2.7 then logs
"Stopping generation because pre_gen_project hook script didn't exit successfully" with
`logger.exception` (cookiecutter/hooks.py, run_hook_from_repo_dir), which appends the
traceback of its own FailedHookException under the hook's message. The filter keeps
that log line and drops the traceback; nothing else is changed. Without it the answers
are still refused, only more noisily, so a change in cookiecutter's wording costs nothing.
"""

from __future__ import annotations

import logging

from jinja2.ext import Extension

HOOK_LOGGER = "cookiecutter.hooks"
HOOK_FAILURE = "Stopping generation because"


class WithoutTraceback(logging.Filter):
    """Drop the traceback from cookiecutter's 'hook failed' record; keep the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith(HOOK_FAILURE):
            record.exc_info = None
            record.exc_text = None
        return True


class QuietHookFailure(Extension):
    """Loading the extension installs the filter once on cookiecutter's hook logger."""

    def __init__(self, environment):
        super().__init__(environment)
        logger = logging.getLogger(HOOK_LOGGER)
        if not any(isinstance(existing, WithoutTraceback) for existing in logger.filters):
            logger.addFilter(WithoutTraceback())
