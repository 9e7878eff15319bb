"""A minimal plugin module, loaded by name in tests/test_plugins.py."""
import paget


@paget.hookimpl
def paget_invasion(rates):
    rates.invasive *= 0.5
