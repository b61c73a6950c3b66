"""What the tests share: processes, ports, the environment, stores, gateways (in-process or served) and calls.

Each module holds one concern; tests import from the module by name (``from support.ports import free_port``).
Application objects are imported here in one place only (``support.app``), so a moved module is fixed once.
"""
