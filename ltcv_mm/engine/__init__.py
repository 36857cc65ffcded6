"""Procedures that build and train mmengine Runners themselves (the hooks run inside Runners others build)."""
