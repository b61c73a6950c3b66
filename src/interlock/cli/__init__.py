"""The ``interlock`` command: one module per command group, all driving the same in-process engine.

``serve`` runs the gateway; every other command works without a server, against the deployment's
settings and store.
"""

from __future__ import annotations

import click

from interlock.cli.approvals import approvals
from interlock.cli.audit import audit
from interlock.cli.budgets import budgets
from interlock.cli.evals import evals
from interlock.cli.keys import keys
from interlock.cli.knowledge import knowledge
from interlock.cli.policy import policy
from interlock.cli.scan import scan
from interlock.cli.serve import check_config, mock_llm, serve
from interlock.cli.tools import tools
from interlock.cli.usage import usage
from interlock.cli.usecases import gate, usecases


@click.group()
@click.version_option(package_name="interlock")
def main() -> None:
    """Interlock: identity, policy, redaction and audit in front of every model call."""


for command in (serve, mock_llm, check_config, keys, audit, policy, scan, approvals, tools, knowledge, budgets,
                usage, usecases, gate, evals):
    main.add_command(command)

__all__ = ["main"]
