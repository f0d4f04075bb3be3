"""matplotlib's doors: image and figure files, font files, user templates, styles, backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.restricted.doors import _IMPORTING, _PATH_NAMES, checked_path, path_checked
from sandbox.restricted.guards import PolicyError, words
from sandbox.restricted.safe_format import SafeFormatter, safe_format


def _no_show(*args: Any, **kwargs: Any) -> None:
    """Figures left open are returned as PNG images after the run; show() does nothing."""


def _rc_context(real: Callable[..., Any]) -> Callable[..., Any]:
    def rc_context(rc: Any = None, fname: Any = None) -> Any:
        if fname is not None:
            raise PolicyError("rc_context(fname=...) is not allowed in the sandbox")
        return real(rc)

    return rc_context


def install_pyplot(plt: Any) -> dict[str, Any]:
    replacements = {
        name: path_checked(
            getattr(plt, name), f"pyplot.{name}", 0, _PATH_NAMES, objects=False, refused=_IMPORTING
        )
        for name in ("savefig", "imread", "imsave")
    }
    replacements.update(show=_no_show, rc_context=_rc_context(plt.rc_context))
    return replacements


def _harden_tick_formats() -> None:
    """Route matplotlib's ``str.format`` of user templates through the safe formatter.

    ``StrMethodFormatter(fmt)`` (also behind ``set_major_formatter("...")``, ``colorbar(format=)``
    and ``clabel(fmt=)``) and ``cbook._auto_format_str`` (``bar_label(fmt=)``) run the native
    formatter on the code's template: ``"{x.__init__.__globals__}"`` walks attributes in C.
    """
    import matplotlib.cbook as cbook
    import matplotlib.ticker as ticker

    if getattr(ticker.StrMethodFormatter.__call__, "__sandbox_checked__", False):
        return
    fix_minus = ticker.Formatter.fix_minus

    class SafeMinusFormat(SafeFormatter):
        __slots__ = ()

        def format_field(self, value: Any, format_spec: str) -> str:
            return fix_minus(format(value, format_spec))

    minus_format = SafeMinusFormat()

    def __call__(self: Any, x: Any, pos: Any = None) -> str:  # noqa: N807
        return minus_format.format(self.fmt, x=x, pos=pos)

    def _auto_format_str(fmt: Any, value: Any) -> Any:
        try:
            return fmt % (value,)
        except (TypeError, ValueError):
            return safe_format(fmt, value)

    __call__.__doc__ = ticker.StrMethodFormatter.__call__.__doc__
    __call__.__sandbox_checked__ = True  # type: ignore[attr-defined]
    ticker.StrMethodFormatter.__call__ = __call__
    cbook._auto_format_str = _auto_format_str


def _harden_font_files() -> None:
    """Font files named by the code (``FontProperties(fname=...)``, ``fontproperties={'fname':
    ...}``, ``prop=``, a fontconfig pattern's ``file=``) all land in ``FontProperties.set_file``;
    it takes only relative paths inside the work dir, refused alike whether the file exists."""
    from matplotlib.font_manager import FontProperties

    real = FontProperties.set_file
    if getattr(real, "__sandbox_checked__", False):
        return

    def set_file(self: Any, file: Any) -> None:
        if file is not None:
            file = checked_path(file, "font file", objects=False)
        real(self, file)

    set_file.__doc__ = real.__doc__
    set_file.__sandbox_checked__ = True  # type: ignore[attr-defined]
    FontProperties.set_file = set_file


def _harden_external_programs(mpl: Any) -> None:
    """matplotlib runs external programs on the code's input: LaTeX for ``usetex`` text and the
    pgf format (``\\input{/etc/passwd}`` in a preamble reads files), Ghostscript for
    ``ps.usedistiller`` (PostScript can open files). The kernel layers stop processes anyway;
    here every such program is reported missing and ``usetex``/pgf are refused up front."""
    import matplotlib.backend_bases as backend_bases
    import matplotlib.texmanager as texmanager
    from matplotlib.text import Text

    if getattr(Text.set_usetex, "__sandbox_checked__", False):
        return
    real_set_usetex = Text.set_usetex

    def set_usetex(self: Any, usetex: Any) -> None:
        if usetex if usetex is not None else mpl.rcParams["text.usetex"]:
            raise PolicyError("usetex (running LaTeX) is not available in the sandbox")
        real_set_usetex(self, usetex)

    def no_program(*args: Any, **kwargs: Any) -> Any:
        raise mpl.ExecutableNotFoundError("external programs are not available in the sandbox")

    def no_latex(*args: Any, **kwargs: Any) -> Any:
        raise PolicyError("running LaTeX is not available in the sandbox")

    set_usetex.__doc__ = real_set_usetex.__doc__
    set_usetex.__sandbox_checked__ = True  # type: ignore[attr-defined]
    Text.set_usetex = set_usetex
    mpl._get_executable_info = no_program
    texmanager.TexManager._run_checked_subprocess = classmethod(no_latex)
    backend_bases._default_backends.pop("pgf", None)  # the pgf format measures text with LaTeX


def install_matplotlib(mpl: Any) -> dict[str, Any]:
    _harden_tick_formats()
    _harden_font_files()
    _harden_external_programs(mpl)
    return {"rc_context": _rc_context(mpl.rc_context)}


def install_style(style: Any) -> dict[str, Any]:
    def checked_style(value: Any) -> Any:
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, str) and item not in style.available and item != "default":
                raise PolicyError(f"style {item!r}: only built-in style names are allowed")
            if not isinstance(item, str | dict):
                raise PolicyError("styles must be built-in style names or dicts of rcParams")
        return value

    def use(value: Any) -> Any:
        return style.use(checked_style(value))

    def context(value: Any, after_reset: bool = False) -> Any:
        return style.context(checked_style(value), after_reset)

    return {"use": use, "context": context}


MATPLOTLIB_DENIED = frozenset(
    words(
        "use rc_file rc_params_from_file matplotlib_fname get_configdir get_cachedir "
        "get_data_path test checkdep_usetex switch_backend install_repl_displayhook "
        "uninstall_repl_displayhook reload_library"
    )
)
