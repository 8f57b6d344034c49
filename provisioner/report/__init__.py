"""Reporting: the results workbook and the console summary, a stage of its own after provisioning.

May import the base modules, :mod:`provisioner.workbook` and :mod:`provisioner.provision` (for the outcome types).
"""
