"""Secret values never reach a policy message (shared/style.md: mask them everywhere).

Two layers, because a message can come from three places: ``messageExpression`` is evaluated
against a copy of the object whose Secret ``data``/``stringData`` values are masked, so it
cannot read them; and every message about a Secret (including CEL error texts, which may quote
a value) is scrubbed of each value, base64 and decoded, before it leaves the gate.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Mapping
from typing import Any

MASK = "**masked**"


def mask_secret(obj: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A Secret with every ``data``/``stringData`` value replaced by the mask; others unchanged."""
    if obj is None or obj.get("kind") != "Secret":
        return obj
    out = dict(obj)
    for key in ("data", "stringData"):
        if isinstance(out.get(key), dict):
            out[key] = dict.fromkeys(out[key], MASK)
    return out


def secret_values(*objs: Mapping[str, Any] | None) -> list[str]:
    values: list[str] = []
    for obj in objs:
        if obj is None or obj.get("kind") != "Secret":
            continue
        for key in ("data", "stringData"):
            section = obj.get(key)
            for v in section.values() if isinstance(section, dict) else ():
                if not isinstance(v, str) or len(v) < 3:
                    continue
                values.append(v)
                if key == "data":
                    with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                        values.append(base64.b64decode(v, validate=True).decode("utf-8"))
    return sorted((v for v in values if len(v) >= 3), key=len, reverse=True)


def scrub(message: str, secrets: list[str]) -> str:
    for value in secrets:
        message = message.replace(value, MASK)
    return message
