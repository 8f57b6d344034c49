"""A local stand-in of the vendor's Campaign Management v2 API, for trying the tool and for tests.

May import the base modules and :mod:`provisioner.api` (endpoints, settings); its body rules are written
independently of :mod:`provisioner.provision.payloads` on purpose.
"""
