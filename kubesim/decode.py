"""Request body decoding: JSON for create/update, YAML 1.1 for server-side apply.

kube-apiserver decodes apply bodies with a YAML 1.1 parser (go-yaml v2): plain ``y``/``n``/
``yes``/``off`` are booleans, map keys that collide after that conversion produce ``Warning``
headers, and JSON is accepted because it is YAML. JSON bodies are decoded strictly enough to
report duplicate and unknown fields the way ``fieldValidation`` asks (Strict → 400, Warn or unset
→ a 299 warning each, Ignore → silent).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml  # type: ignore[import-untyped]

from kubesim import knownfields
from kubesim.discovery import Resource
from kubesim.status import ApiError, bad_request
from kubesim.validation import unknown_fields

Obj = dict[str, Any]
MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's request size limit


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader with go-yaml v2's booleans (y/n too) and duplicate-key warnings."""

    warnings: list[str]


_BOOL = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"
)
_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in list("yYnNtTfFoO"):
    _Loader.yaml_implicit_resolvers[_first] = [
        (tag, rx)
        for tag, rx in _Loader.yaml_implicit_resolvers.get(_first, [])
        if tag != "tag:yaml.org,2002:bool"
    ]
    _Loader.yaml_implicit_resolvers[_first].insert(0, ("tag:yaml.org,2002:bool", _BOOL))


def _bool(loader: _Loader, node: Any) -> bool:
    return str(node.value) in _TRUE


def _mapping(loader: _Loader, node: Any, deep: bool = False) -> Obj:
    out: Obj = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, bool):
            key = "true" if key else "false"
        elif not isinstance(key, str):
            key = str(key)
        if key in out:
            loader.warnings.append(f"line {key_node.start_mark.line + 1}: key {key} already set in map")
        out[key] = loader.construct_object(value_node, deep=True)
    return out


def _timestamp(loader: _Loader, node: Any) -> str:
    return str(node.value)


_Loader.add_constructor("tag:yaml.org,2002:bool", _bool)
_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


_GO_PROBLEMS = (
    (re.compile(r"expected ',' or '\]', but got .*"), "did not find expected ',' or ']'"),
    (re.compile(r"expected ',' or '\}', but got .*"), "did not find expected ',' or '}'"),
    (re.compile(r"expected <block end>, but found .*"), "did not find expected key"),
    (re.compile(r"mapping values are not allowed here"), "mapping values are not allowed in this context"),
    (re.compile(r"could not find expected ':'"), "could not find expected ':'"),
)


def _go_yaml_error(e: Exception) -> str:
    """PyYAML's error worded and numbered as go-yaml v2 reports it (parser lines are 0-based there)."""
    mark = getattr(e, "problem_mark", None)
    problem = str(getattr(e, "problem", None) or e)
    for rx, text in _GO_PROBLEMS:
        if rx.fullmatch(problem):
            problem = text
            break
    if mark is None:
        return problem
    line = mark.line + 1 if isinstance(e, yaml.scanner.ScannerError) else mark.line
    return f"line {line}: {problem}"


def _size_check(body: bytes) -> None:
    if len(body) > MAX_BODY:
        raise ApiError(
            413,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "Request entity too large: limit is 3145728",
                "reason": "RequestEntityTooLarge",
                "code": 413,
            },
        )


def parse_apply_body(body: bytes) -> tuple[Obj, list[str]]:
    _size_check(body)
    text = body.decode("utf-8", errors="replace")
    loader = _Loader(text)
    loader.warnings = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as e:
        raise bad_request(
            f"error decoding YAML: error converting YAML to JSON: yaml: {_go_yaml_error(e)}"
        ) from e
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise bad_request("error decoding YAML: the object is not a map")
    return data, [f'299 - "{w}"' for w in loader.warnings]


def _pairs_hook(path_holder: list[str]) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> Obj:
        out: Obj = {}
        for k, v in pairs:
            if k in out:
                path_holder.append(k)
            out[k] = v
        return out

    return hook


def parse_json_body(body: bytes, validation: str | None, res: Resource) -> tuple[Obj, list[str]]:
    _size_check(body)
    dups: list[str] = []
    try:
        data = json.loads(body or b"{}", object_pairs_hook=_pairs_hook(dups))
    except ValueError as e:
        raise bad_request(f"couldn't get version/kind; json parse error: {e}") from e
    if not isinstance(data, dict):
        raise bad_request("couldn't get version/kind; json parse error: not an object")
    problems = [f'duplicate field "{p}"' for p in _dup_paths(body)] if dups else []
    unknown = unknown_fields(res, data)
    problems += [f'unknown field "{p}"' for p in unknown]
    for p in unknown:  # a decoder drops what the type does not declare
        knownfields.drop(data, p)
    mode = validation or "Warn"
    if problems and mode == "Strict":
        raise bad_request(
            f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
            f"strict decoding error: {', '.join(problems)}"
        )
    warnings = [f'299 - "{json.dumps(p)[1:-1]}"' for p in problems] if mode == "Warn" else []
    return data, warnings


def _dup_paths(body: bytes) -> list[str]:
    found: list[str] = []

    def walk(pairs_path: list[str]) -> Any:
        def hook(pairs: list[tuple[str, Any]]) -> Obj:
            out: Obj = {}
            for k, v in pairs:
                if k in out:
                    found.append(k)
                out[k] = v
            return out

        return hook

    data = json.loads(body, object_pairs_hook=walk([]))

    # Re-derive full paths for the duplicates found (first match wins, which is what we report).
    def locate(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                p = f"{path}.{k}" if path else k
                if k in found:
                    found[found.index(k)] = p
                locate(v, p)

    locate(data, "")
    return found
