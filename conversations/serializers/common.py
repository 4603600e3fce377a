"""What the serializers of this package share."""

from __future__ import annotations

ID_BOUNDS = {"min_value": 1, "max_value": 2**63 - 1}  # a huge number must not reach the driver
