"""Request parameters: Stripe's form encoding, and validation against the SDK's own parameter types.

The stripe SDK ships one TypedDict per API method (``stripe.params.CustomerCreateParams``,
``stripe.params.checkout.SessionCreateParams``, ...), generated from Stripe's OpenAPI spec. They list
every parameter, which ones are required, and the nested shape of each, so the fake rejects exactly
the parameters Stripe would reject instead of guessing. Values arrive as strings; validation also
converts them to the types the handlers use (int, bool, list, dict).
"""

from __future__ import annotations

import re
import sys
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

import typing_extensions
from stripe._request_options import RequestOptions

from .errors import StripeFault, invalid, missing_parameter, unknown_parameter

REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


# --- form encoding ---------------------------------------------------------------------------------


def parse_form(raw: str) -> dict:
    """``a[b][0][c]=1&e[]=x`` → ``{"a": {"b": {"0": {"c": "1"}}}, "e": ["x"]}``.

    Numeric indexes stay dict keys here; ``validate`` turns them into lists where the parameter is
    an array (a metadata key may be a number too, so only the schema can tell).
    """
    result: dict = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        match = _KEY.match(key)
        if not match:
            raise invalid(key, f"Invalid parameter name: {key}")
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _assign(result, parts, value, key)
    return result


def _assign(container: dict, parts: list[str], value: str, key: str) -> None:
    head, rest = parts[0], parts[1:]
    if not rest:
        if head in container:
            raise invalid(key, f"Received both {key} and another value for the same parameter.")
        container[head] = value
        return
    if rest == [""]:  # key[]=value appends
        existing = container.setdefault(head, [])
        if not isinstance(existing, list):
            raise invalid(key, f"Invalid array: {key}")
        existing.append(value)
        return
    if "" in rest:
        raise invalid(key, f"Invalid parameter name: {key}")
    child = container.setdefault(head, {})
    if not isinstance(child, dict):
        raise invalid(key, f"Invalid object: {head}")
    _assign(child, rest, value, key)


# --- schema from the SDK's TypedDicts ------------------------------------------------------------------


@dataclass
class Node:
    kind: str  # object | list | map | union | literal | scalar | any
    fields: dict = field(default_factory=dict)  # object: name -> Node
    required: frozenset = frozenset()  # object
    item: Node | None = None  # list
    options: tuple = ()  # union: Nodes; literal: allowed values
    scalar: type | None = None  # scalar: int | bool | str | float | Decimal


_ANY = Node("any")
_cache: dict = {}


def schema_for(params_class) -> Node:
    """The validation tree for one SDK ``*Params`` TypedDict (request options such as api_key left out)."""
    if params_class not in _cache:
        _cache[params_class] = _object_node(params_class, top_level=True)
    return _cache[params_class]


def _hints(cls, *, top_level: bool) -> dict:
    annotations = dict(cls.__annotations__)
    if top_level:
        annotations = {k: v for k, v in annotations.items() if k not in REQUEST_OPTION_KEYS}
    # Evaluate the string annotations in the module that defines them (RequestOptions' own
    # annotations are left out above because they name types imported only for type checking).
    holder = type(cls.__name__, (), {"__annotations__": annotations, "__module__": cls.__module__})
    return typing.get_type_hints(holder, globalns=vars(sys.modules[cls.__module__]))


def _object_node(cls, *, top_level: bool = False) -> Node:
    node = Node("object")
    _cache.setdefault(("obj", cls), node)  # recursive types resolve to the node being built
    node.fields = {name: _node(hint) for name, hint in _hints(cls, top_level=top_level).items()}
    node.required = frozenset(cls.__required_keys__) - REQUEST_OPTION_KEYS
    return node


def _node(hint) -> Node:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if typing_extensions.is_typeddict(hint):
        return _cache.get(("obj", hint)) or _object_node(hint)
    if origin is typing.Union:
        return Node("union", options=tuple(_node(a) for a in args))
    if origin is typing.Literal:
        return Node("literal", options=args)
    if origin in (list, tuple):
        return Node("list", item=_node(args[0]) if args else _ANY)
    if origin is dict or hint is dict:
        return Node("map")
    if (
        isinstance(hint, type)
        and hint.__name__ == "UntypedStripeObject"
        or origin is not None
        and getattr(origin, "__name__", "") in ("UntypedStripeObject", "Mapping")
    ):
        return Node("map")
    if hint in (int, bool, str, float, Decimal):
        return Node("scalar", scalar=hint)
    return _ANY


# --- validation -------------------------------------------------------------------------------------------


def validate(params: dict, schema: Node) -> dict:
    """Reject unknown and missing parameters as Stripe does; return the params with typed values."""
    return _validate_object(params, schema, "")


def _path(prefix: str, name) -> str:
    return f"{prefix}[{name}]" if prefix else str(name)


def _validate_object(value, node: Node, prefix: str) -> dict:
    if not isinstance(value, dict):
        raise invalid(prefix, f"Invalid object: {prefix}")
    result = {}
    for name, sub in value.items():
        if name not in node.fields:
            raise unknown_parameter(_path(prefix, name))
        result[name] = _validate(sub, node.fields[name], _path(prefix, name))
    for name in sorted(node.required):
        if name not in value:
            raise missing_parameter(_path(prefix, name))
    return result


def _as_list(value, prefix: str):
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and all(k.isdigit() for k in value):
        return [value[k] for k in sorted(value, key=int)]
    raise invalid(prefix, f"Invalid array: {prefix}", code="parameter_invalid_array")


def _validate(value, node: Node, prefix: str):
    kind = node.kind
    if kind == "any":
        return value
    if kind == "object":
        return _validate_object(value, node, prefix)
    if kind == "list":
        if value == "":
            return ""
        items = _as_list(value, prefix)
        return [_validate(v, node.item, f"{prefix}[{i}]") for i, v in enumerate(items)]
    if kind == "map":
        if not isinstance(value, dict):
            raise invalid(prefix, f"Invalid hash: {prefix}")
        return value
    if kind == "literal":
        if value in node.options:
            return value
        raise _not_one_of(prefix, node.options)
    if kind == "scalar":
        return _scalar(value, node.scalar, prefix)
    return _validate_union(value, node, prefix)


def _validate_union(value, node: Node, prefix: str):
    options = node.options
    if isinstance(value, (dict, list)):
        wanted = ("object", "map") if isinstance(value, dict) else ("list",)
        if isinstance(value, dict) and value and all(k.isdigit() for k in value):
            wanted = ("list", "object", "map")
        for kind in wanted:
            for option in options:
                if option.kind == kind:
                    return _validate(value, option, prefix)
        raise invalid(prefix, f"Invalid {prefix}: expected a single value, got a hash or array.")
    literals = [v for o in options if o.kind == "literal" for v in o.options]
    if value in literals:
        return value
    for scalar in (bool, int, float, Decimal):
        for option in options:
            if option.kind == "scalar" and option.scalar is scalar:
                try:
                    return _scalar(value, scalar, prefix)
                except StripeFault:
                    pass
    if value == "":  # an empty string unsets an optional parameter
        return ""
    # The SDK types an enum as Literal[...]|str so new values do not break old clients; the API
    # itself still refuses values outside the enum.
    enum = [v for v in literals if v != ""]
    if enum:
        raise _not_one_of(prefix, enum)
    if any(o.kind == "scalar" and o.scalar is str for o in options) or any(o.kind == "any" for o in options):
        return value
    raise invalid(prefix, f"Invalid value for {prefix}: {value}")


def _not_one_of(prefix: str, options) -> StripeFault:
    values = [str(v) for v in options if v != ""]
    listed = ", ".join(values[:-1]) + (f", or {values[-1]}" if len(values) > 1 else values[-1])
    return invalid(prefix, f"Invalid {prefix}: must be one of {listed}")


def _scalar(value, scalar: type, prefix: str):
    if isinstance(value, (dict, list)):
        raise invalid(prefix, f"Invalid {scalar.__name__}: {prefix} must be a single value")
    if scalar is str:
        return value
    if value == "":
        return ""
    if scalar is bool:
        if value in ("true", "false"):
            return value == "true"
        raise invalid(prefix, f"Invalid boolean: {value}")
    if scalar is int:
        if re.fullmatch(r"-?\d+", value):
            return int(value)
        raise invalid(prefix, f"Invalid integer: {value}", code="parameter_invalid_integer")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise invalid(prefix, f"Invalid decimal: {value}") from None
