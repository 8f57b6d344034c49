"""The workbook stage: its contract (spec, problem codes), reading (load), checking (cells, validate) and the template.

Owns everything about the spreadsheet a user fills in. May import only the base modules
(``provisioner.errors``, ``provisioner.names``, ...); it knows nothing of HTTP, the ledger or reports.
"""
