"""The built-in scenarios: one TOML configuration each, read with ``paget.Simulation.from_scenario``."""
