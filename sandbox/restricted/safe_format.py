"""str.format, str.format_map and string.Formatter without attribute walks.

``"{0.__class__.__init__.__globals__}".format(x)`` reads attributes inside C code, past every
compiled guard. Templates whose fields only index or name arguments (the common case:
``"{:>10.2f}"``, ``"{name}"``, ``"{0[1]}"``) still run on the native ``str.format``; a template
with a ``.`` in a field goes through SafeFormatter, which resolves each attribute with the
policy's ``getattr`` and refuses names starting with ``_`` outright.
"""

from __future__ import annotations

import _string
import collections
import functools
import types
from typing import Any

from sandbox.restricted.guards import (
    FrozenMeta,
    PolicyAttributeError,
    freeze,
    guarded_getattr,
    register_public_handler,
)

_PLAIN_CACHE: dict[str, bool] = {}
_PLAIN_CACHE_LIMIT = 4096


def _exact_template(template: object) -> str:
    if type(template) is str:
        return template
    if isinstance(template, str):
        return str.__str__(template)
    raise TypeError(f"format template must be str, not '{type(template).__name__}'")


def _fields_are_plain(template: str, depth: int = 2) -> bool:
    try:
        for _literal, field, spec, _conversion in _string.formatter_parser(template):
            if field is not None and "." in field:
                return False
            if spec and "{" in spec and (depth == 0 or not _fields_are_plain(spec, depth - 1)):
                return False
    except ValueError:
        return False  # malformed: let the formatter raise its own error
    return True


def is_plain(template: str) -> bool:
    """True when native ``str.format`` cannot reach any attribute through ``template``."""
    plain = _PLAIN_CACHE.get(template)
    if plain is None:
        plain = _fields_are_plain(template)
        if len(_PLAIN_CACHE) >= _PLAIN_CACHE_LIMIT:
            _PLAIN_CACHE.clear()
        _PLAIN_CACHE[template] = plain
    return plain


class SafeFormatter(metaclass=FrozenMeta):
    """string.Formatter's public API; field attributes are resolved under the policy."""

    __slots__ = ()

    def format(self, format_string: str, /, *args: Any, **kwargs: Any) -> str:
        return self.vformat(format_string, args, kwargs)

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        used_args: set[Any] = set()
        result, _ = self._vformat(_exact_template(format_string), args, kwargs, used_args, 2)
        self.check_unused_args(used_args, args, kwargs)
        return result

    def _vformat(
        self,
        format_string: str,
        args: Any,
        kwargs: Any,
        used_args: set[Any],
        recursion_depth: int,
        auto_arg_index: int | bool = 0,
    ) -> tuple[str, int | bool]:
        # Ported from CPython's string.Formatter so that it shares no code with the real one.
        if recursion_depth < 0:
            raise ValueError("Max string recursion exceeded")
        result = []
        for literal_text, field_name, format_spec, conversion in self.parse(format_string):
            if literal_text:
                result.append(literal_text)
            if field_name is None:
                continue
            if field_name == "":
                if auto_arg_index is False:
                    raise ValueError(
                        "cannot switch from manual field specification to automatic field numbering"
                    )
                field_name = str(auto_arg_index)
                auto_arg_index += 1
            elif field_name.isdigit():
                if auto_arg_index:
                    raise ValueError(
                        "cannot switch from manual field specification to automatic field numbering"
                    )
                auto_arg_index = False
            obj, arg_used = self.get_field(field_name, args, kwargs)
            used_args.add(arg_used)
            obj = self.convert_field(obj, conversion)
            format_spec, auto_arg_index = self._vformat(
                format_spec, args, kwargs, used_args, recursion_depth - 1, auto_arg_index
            )
            result.append(self.format_field(obj, format_spec))
        return "".join(result), auto_arg_index

    def parse(self, format_string: str) -> Any:
        return _string.formatter_parser(_exact_template(format_string))

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, Any]:
        first, rest = _string.formatter_field_name_split(_exact_template(field_name))
        obj = self.get_value(first, args, kwargs)
        for is_attr, key in rest:
            if not is_attr:
                obj = obj[key]
            elif key.startswith("_"):
                raise PolicyAttributeError(
                    f"format strings may not access attribute '{key}'", name=key
                )
            else:
                obj = guarded_getattr(obj, key)
        return obj, first

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        return args[key] if isinstance(key, int) else kwargs[key]

    def check_unused_args(self, used_args: Any, args: Any, kwargs: Any) -> None:
        pass

    def format_field(self, value: Any, format_spec: str) -> str:
        return format(value, format_spec)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is None:
            return value
        if conversion == "s":
            return str(value)
        if conversion == "r":
            return repr(value)
        if conversion == "a":
            return ascii(value)
        raise ValueError(f"Unknown conversion specifier {conversion!s}")


type.__setattr__(SafeFormatter, "__name__", "Formatter")
type.__setattr__(SafeFormatter, "__qualname__", "Formatter")
type.__setattr__(SafeFormatter, "__module__", "string")
freeze(SafeFormatter)
_FORMATTER = SafeFormatter()


def safe_format(template: str, /, *args: Any, **kwargs: Any) -> str:
    """``str.format`` under the policy."""
    template = _exact_template(template)
    if is_plain(template):
        return template.format(*args, **kwargs)
    return _FORMATTER.vformat(template, args, kwargs)


def safe_format_map(template: str, mapping: Any, /) -> str:
    """``str.format_map`` under the policy."""
    template = _exact_template(template)
    if is_plain(template):
        return template.format_map(mapping)
    return _FORMATTER.vformat(template, (), mapping)


_SAFE = {"format": safe_format, "format_map": safe_format_map}
_STR_METHODS = {"format": str.format, "format_map": str.format_map}
_USERSTRING_METHODS = {
    "format": collections.UserString.format,
    "format_map": collections.UserString.format_map,
}


def _userstring_call(name: str, data: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if isinstance(data, str):
        return _SAFE[name](data, *args, **kwargs)
    return guarded_getattr(data, name)(*args, **kwargs)


def format_attribute(obj: Any, name: str) -> Any:
    """What ``obj.format`` / ``obj.format_map`` give: safe versions wherever str's run."""
    value = getattr(obj, name)
    if value is _STR_METHODS[name]:
        return _SAFE[name]
    if (
        type(value) is types.BuiltinMethodType
        and isinstance(value.__self__, str)
        and value.__name__ == name
    ):
        return functools.partial(_SAFE[name], value.__self__)
    if getattr(value, "__func__", None) is _USERSTRING_METHODS[name]:
        target = value.__self__
        return lambda *args, **kwargs: _userstring_call(name, target.data, args, kwargs)
    if value is _USERSTRING_METHODS[name]:
        return lambda self, *args, **kwargs: _userstring_call(name, self.data, args, kwargs)
    return value  # other receivers keep their own method


def call_format(obj: Any, /, *args: Any, **kwargs: Any) -> str:
    """``obj.format(...)`` in compiled code: one call, native speed for plain str templates."""
    if type(obj) is str and (_PLAIN_CACHE.get(obj) or is_plain(obj)):
        return obj.format(*args, **kwargs)
    return format_attribute(obj, "format")(*args, **kwargs)


def call_format_map(obj: Any, /, *args: Any, **kwargs: Any) -> str:
    if type(obj) is str and (_PLAIN_CACHE.get(obj) or is_plain(obj)):
        return obj.format_map(*args, **kwargs)
    return format_attribute(obj, "format_map")(*args, **kwargs)


register_public_handler("format", format_attribute)
register_public_handler("format_map", format_attribute)
