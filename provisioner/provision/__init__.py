"""Provisioning: request bodies from valid rows, the exactly-once engine, what follows a create (wait for Ready,
schedule, start: :mod:`~provisioner.provision.lifecycle`), retry policy, rate limiter and ledger.

May import the base modules, :mod:`provisioner.workbook` and :mod:`provisioner.api`; never reports, jobs or the CLI.
"""
