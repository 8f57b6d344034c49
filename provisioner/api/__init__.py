"""The vendor's campaign API: endpoints, settings, tokens, the client and the response classifier.

May import only the base modules. Knows nothing of workbooks, ledgers or runs.
"""
