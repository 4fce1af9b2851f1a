"""Drivers chosen by name (the `hal.driver` / per-device `driver` config values)."""

from __future__ import annotations

DRIVER_NAMES: tuple[str, ...] = ("sim",)
