"""The escape battery: hostile code against every backend.

Every case asserts outcomes, not messages: nothing escaped (the host canary file is unchanged and
unread, no file appeared in a host directory, the host secret never shows up in any part of the
result, nobody connected to the host listener), the host process lives on with its environment
and cwd intact, the run ended cleanly (a RunResult, never an exception into the host; when not ok,
an error or a limit), and the sandbox still works for the next run.

Per backend a case states what a correct sandbox does with it. The restricted backend refuses
most of them outright; the docker backend runs real CPython, where ``import os`` is fine and only
containment matters, so many of its expectations are ``ANY``. Cases that test the RestrictedPython
policy itself (guard names, format-string reach...) are skipped for docker. In restricted runs,
payloads print ``POLICY-BYPASS`` once they hold something the policy should have kept from them,
so a bypass that happens not to break anything is still caught.
"""

from __future__ import annotations

import io
import re
import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from sandbox import RunResult, SandboxError
from tests.sandbox.conftest import describe, run_limits

MARKER = "POLICY-BYPASS"


@dataclass(frozen=True)
class Expect:
    """What a correct backend does with a case.

    ``ok``: None when either outcome is fine. ``outcomes``: when set, the result must be one of
    them -- a limit kind (``"timeout"``...), an exception type name, or ``"error"`` for any error.
    ``names_module``: the refusal message must name this module (blocked imports say which).
    """

    ok: bool | None = False
    outcomes: tuple[str, ...] | None = None
    names_module: str | None = None

    def problems(self, result: RunResult) -> list[str]:
        found = []
        if self.ok is not None and result.ok is not self.ok:
            found.append(f"expected ok={self.ok}")
        if self.outcomes is not None and not result.ok:
            if result.limit_hit is not None:
                matched = result.limit_hit in self.outcomes
            else:
                error_type = result.error.type if result.error else None
                matched = error_type in self.outcomes or "error" in self.outcomes
            if not matched:
                found.append(f"expected one of {self.outcomes}")
        named = rf"\b{re.escape(self.names_module or '')}\b"
        if self.names_module and result.error and not re.search(named, result.error.message):
            found.append(f"the refusal does not name the module {self.names_module!r}")
        return found


REFUSED = Expect()
ANY = Expect(ok=None)
TIMEOUT = Expect(outcomes=("timeout",))
MEMORY = Expect(outcomes=("memory", "MemoryError"))
MEMORY_OR_TIMEOUT = Expect(outcomes=("memory", "MemoryError", "timeout"))
FLOOD = Expect(ok=None, outcomes=("output", "timeout"))
BOUNDED = Expect(outcomes=("timeout", "memory", "processes", "error"))


def blocked(module: str) -> Expect:
    return Expect(names_module=module)


@dataclass(frozen=True)
class Case:
    id: str
    code: str
    restricted: Expect = REFUSED
    # None: a case about the RestrictedPython policy; real CPython in a container may do it.
    docker: Expect | None = ANY
    timeout_s: float = 5.0
    # Builds input files; gets the token filler so payloads can name host paths.
    files: Callable[[Callable[[str], str]], dict[str, bytes]] | None = field(default=None)
    # Restricted runs: stdout showing any of these means the policy was bypassed.
    needles: tuple[str, ...] = (MARKER,)


def case(id: str, code: str, restricted: Expect = REFUSED, docker: Expect | None = ANY, **kw):
    return Case(id, textwrap.dedent(code).strip() + "\n", restricted, docker, **kw)


class _Exec:
    """Unpickles into ``exec(source)``: the classic pickle payload."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __reduce__(self):
        return (exec, (self.source,))


def evil_npy(fill: Callable[[str], str]) -> dict[str, bytes]:
    payload = np.empty(1, dtype=object)
    payload[0] = _Exec(fill(f"print('{MARKER}'); open('@DROP_DIR@/unpickled', 'w').write('x')"))
    buffer = io.BytesIO()
    np.save(buffer, payload, allow_pickle=True)
    return {"evil.npy": buffer.getvalue()}


def evil_npz(fill: Callable[[str], str]) -> dict[str, bytes]:
    payload = np.empty(1, dtype=object)
    payload[0] = _Exec(fill(f"print('{MARKER}'); open('@DROP_DIR@/unpickled', 'w').write('x')"))
    buffer = io.BytesIO()
    np.savez(buffer, a=payload)
    return {"evil.npz": buffer.getvalue()}


# A stand-in for builtins.getattr that the sandbox's guards would call instead of their own.
FAKE_GUARD = f"lambda *args: '{MARKER}'"

IMPORTS = [
    case(
        "import_os",
        "import os\nprint(os.environ.get('MISTRAL_API_KEY'))\nprint('POLICY-BYPASS')",
        blocked("os"),
    ),
    case(
        "import_from_os", "from os import system\nsystem('touch @DROP_DIR@/from_os')", blocked("os")
    ),
    case(
        "import_os_path",
        "import os.path\nprint(os.path.expandvars('$MISTRAL_API_KEY'))",
        blocked("os"),
    ),
    case("import_sys", "import sys\nprint(sys.modules['os'].environ)", blocked("sys")),
    case(
        "import_from_sys", "from sys import modules\nprint(modules['os'].environ)", blocked("sys")
    ),
    case(
        "import_subprocess",
        "import subprocess\nsubprocess.run(['sh', '-c', 'echo x > @DROP_DIR@/sub'])\nprint('POLICY-BYPASS')",
        blocked("subprocess"),
    ),
    case("import_socket", "import socket\nprint(socket.gethostname())", blocked("socket")),
    case(
        "import_ctypes",
        "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.getpid())",
        blocked("ctypes"),
    ),
    case(
        "import_importlib",
        "import importlib\nos = importlib.import_module('os')\nprint(os.environ)",
        blocked("importlib"),
    ),
    case(
        "import_builtins",
        "import builtins\nbuiltins.open('@CANARY@', 'w').write('pwned')",
        blocked("builtins"),
    ),
    case("dunder_import", "__import__('os').system('touch @DROP_DIR@/dunder_import')"),
    case("import_io", "import io\nio.open('@CANARY@', 'w').write('pwned')", blocked("io")),
    case(
        "import_pathlib",
        "import pathlib\npathlib.Path('@CANARY@').write_text('pwned')",
        blocked("pathlib"),
    ),
    case("import_shutil", "import shutil\nshutil.rmtree('@DROP_DIR@')", blocked("shutil")),
    case(
        "import_pickle",
        "import pickle\npickle.loads(b\"cos\\nsystem\\n(S'touch @DROP_DIR@/pickle'\\ntR.\")",
        blocked("pickle"),
    ),
    case("import_marshal", "import marshal\nprint(marshal.loads(b'N'))", blocked("marshal")),
    case(
        "import_gc",
        "import gc\nprint(len(gc.get_objects()))\nprint('POLICY-BYPASS')",
        blocked("gc"),
    ),
    case(
        "import_inspect",
        "import inspect\nprint(inspect.currentframe().f_back.f_globals)",
        blocked("inspect"),
    ),
    case(
        "import_threading", "import threading\nprint(threading.enumerate())", blocked("threading")
    ),
    case(
        "import_multiprocessing",
        "import multiprocessing\nmultiprocessing.Process(target=print).start()",
        blocked("multiprocessing"),
    ),
    case(
        "import_signal",
        "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nprint('POLICY-BYPASS')",
        blocked("signal"),
    ),
    case(
        "import_asyncio",
        "import asyncio\nasyncio.run(asyncio.create_subprocess_shell('touch @DROP_DIR@/asyncio'))",
        blocked("asyncio"),
    ),
    case("import_posix", "import posix\nposix.system('touch @DROP_DIR@/posix')", blocked("posix")),
    case(
        "import_codecs",
        "import codecs\ncodecs.open('@CANARY@', 'w').write('pwned')",
        blocked("codecs"),
    ),
    case("import_underscore_module", "import _io\n_io.open('@CANARY@', 'w').write('pwned')"),
    case(
        "import_numpy_ctypeslib",
        "import numpy.ctypeslib\nprint('POLICY-BYPASS')",
        blocked("numpy.ctypeslib"),
    ),
    case("import_numpy_f2py", "import numpy.f2py\nprint('POLICY-BYPASS')", blocked("numpy.f2py")),
]

ATTRIBUTE_WALKS = [
    case(
        "subclasses_of_tuple",
        """
        for c in ().__class__.__base__.__subclasses__():
            if c.__name__ == '_wrap_close':
                print(c.__init__.__globals__['environ'])
        print('POLICY-BYPASS')
        """,
    ),
    case("subclasses_of_list", "print([].__class__.__base__.__subclasses__())"),
    case("mro_walk", "print(type(1).mro()[-1].__subclasses__())"),
    case("dunder_mro", "print(int.__mro__)"),
    case("function_globals", "def f():\n    pass\nprint(f.__globals__)"),
    case("function_code", "def f():\n    pass\nprint(f.__code__.co_consts)"),
    case("builtins_name", "print(__builtins__)"),
    case("builtins_subscript", "__builtins__['open']('@CANARY@', 'w').write('pwned')"),
    # ``x.__class__`` is no more than ``type(x)``; what must stay out of reach is what lies past it.
    case("getattr_dunder", "print(getattr(object, '__subclasses__')())"),
    case(
        "getattr_built_name",
        "name = '_' + '_subclasses__'\nprint(getattr(object, name)())\nprint('POLICY-BYPASS')",
    ),
    case(
        "getattr_default_probe",
        "found = getattr(object, '__' + 'subclasses__', None)\nif found is not None:\n    print('POLICY-BYPASS', found)",
        restricted=ANY,
    ),
    case(
        "setattr_dunder",
        "class A:\n    pass\na = A()\nsetattr(a, '__' + 'class__', int)\nprint('POLICY-BYPASS')",
    ),
    case(
        "super_self_class",
        "class A:\n    def m(self):\n        return super()\nprint(A().m().__self_class__)",
    ),
    case("super_getattribute", "print(super(int, 1).__getattribute__('__class__'))"),
    case("print_self", "print(print.__self__)"),
    case("len_self_open", "b = len.__self__\nb.open('@CANARY@', 'w').write('pwned')"),
    case("vars_and_globals", "print(vars())\nprint(globals())\nprint('POLICY-BYPASS')"),
    case("locals_builtin", "print(locals())\nprint('POLICY-BYPASS')"),
    case("type_dict", "print(type(1).__dict__)"),
    case(
        "type_three_args",
        "X = type('X', (), {'__init__': lambda self: None})\nprint(X.mro()[-1].__subclasses__())",
    ),
    case(
        "type_three_args_getattr",
        "X = type('X', (), {'f': 1})\nprint(getattr(X, '__' + 'mro__'))\nprint('POLICY-BYPASS')",
    ),
    case("type_of_type_subclasses", "t = type(type)\nprint(getattr(t, '__subclasses__')(t))"),
    case("class_dict", "class A:\n    pass\nprint(A.__dict__)"),
    case("reduce_ex", "print((1).__reduce_ex__(2))"),
    case(
        "function_type_from_code",
        "f = lambda: 0\nF = type(f)\ng = F(f.__code__, {})\nprint('POLICY-BYPASS')",
    ),
    case(
        "update_wrapper_oracle",
        """
        import functools
        box = []
        class Grab:
            def __setattr__(self, name, value):
                box.append(value)
        def reach(obj, name):
            box.clear()
            functools.update_wrapper(Grab(), obj, assigned=(name,), updated=())
            return box[0]
        base = reach(reach((), '__' + 'class__'), '__' + 'base__')
        print('POLICY-BYPASS', base)
        for c in reach(base, '__' + 'subclasses__')():
            if reach(c, '__' + 'name__') == '_wrap_close':
                g = reach(reach(c, '__' + 'init__'), '__' + 'globals__')
                g['system']('touch @DROP_DIR@/update_wrapper')
        """,
    ),
    case(
        "reduce_with_getattr",
        "import functools\nprint(functools.reduce(getattr, ['__class__', '__base__'], ()))",
    ),
    case(
        "map_getattr",
        "print(list(map(getattr, [object], ['_' + '_subclasses__'])))\nprint('POLICY-BYPASS')",
    ),
    case(
        "operator_attrgetter",
        "import operator\nprint(operator.attrgetter('_' + '_class__._' + '_base__')(1))\nprint('POLICY-BYPASS')",
    ),
    case(
        "operator_methodcaller",
        "import operator\nprint(operator.methodcaller('_' + '_subclasses__')(object))\nprint('POLICY-BYPASS')",
    ),
    case(
        "copy_reduce_format",
        """
        import copy
        class X:
            def __reduce__(self):
                return (str.format, ('{0._' + '_class__._' + '_base__}', 1))
        print(copy.copy(X()))
        print('POLICY-BYPASS')
        """,
    ),
]

FRAMES = [
    case(
        "generator_frame_walk",
        """
        def g():
            yield it.gi_frame.f_back
        it = g()
        frame = next(it)
        while frame is not None:
            print('POLICY-BYPASS', sorted(frame.f_globals)[:5])
            frame = frame.f_back
        """,
    ),
    case(
        "generator_frame_builtins",
        "def g():\n    yield 1\nit = g()\nprint(it.gi_frame.f_builtins)\nprint('POLICY-BYPASS')",
    ),
    case(
        "coroutine_frame",
        "async def c():\n    return 1\nco = c()\nprint(co.cr_frame.f_globals)\nprint('POLICY-BYPASS')\nco.close()",
    ),
    case(
        "async_generator_frame",
        "async def ag():\n    yield 1\na = ag()\nprint(a.ag_frame.f_globals)\nprint('POLICY-BYPASS')",
    ),
    case(
        "generator_code_replace",
        """
        def gen():
            yield 1
        code = gen().gi_code
        patched = code.replace(co_consts=code.co_consts)
        FunctionType = type(gen)
        FunctionType(patched, {})
        print('POLICY-BYPASS')
        """,
    ),
    case(
        "traceback_frame",
        """
        try:
            1 / 0
        except ZeroDivisionError as e:
            print(e.__traceback__.tb_frame.f_back.f_globals)
        """,
    ),
    case(
        "exception_context_walk",
        """
        try:
            try:
                1 / 0
            except ZeroDivisionError:
                raise ValueError('again')
        except ValueError as e:
            print(e.__context__.__traceback__.tb_frame)
        """,
    ),
    case(
        "traceback_frame_via_format",
        """
        try:
            1 / 0
        except ZeroDivisionError as e:
            print('{0.__traceback__.tb_frame.f_globals}'.format(e))
        print('POLICY-BYPASS')
        """,
    ),
]

FORMAT_STRINGS = [
    case(
        "format_class",
        "print('{0.__class__.__base__.__subclasses__}'.format(1))\nprint('POLICY-BYPASS')",
    ),
    case(
        "format_globals",
        "def f():\n    pass\nprint('{0.__globals__}'.format(f))\nprint('POLICY-BYPASS')",
    ),
    case("format_map", "print('{x.__class__}'.format_map({'x': 1}))\nprint('POLICY-BYPASS')"),
    case(
        "string_formatter",
        "import string\nprint(string.Formatter().format('{0.__class__.__mro__}', 1))\nprint('POLICY-BYPASS')",
    ),
    case(
        "string_formatter_vformat",
        "import string\nprint(string.Formatter().vformat('{0.__class__}', (1,), {}))\nprint('POLICY-BYPASS')",
    ),
    case(
        "string_formatter_get_field",
        "import string\nprint(string.Formatter().get_field('0.__class__', (1,), {}))\nprint('POLICY-BYPASS')",
    ),
    case("str_format_unbound", "print(str.format('{0.__class__}', 1))\nprint('POLICY-BYPASS')"),
    case(
        "format_map_unbound",
        "print(str.format_map('{a.__class__}', {'a': 1}))\nprint('POLICY-BYPASS')",
    ),
    case(
        "format_method_reference", "f = '{0.__class__}'.format\nprint(f(1))\nprint('POLICY-BYPASS')"
    ),
    case("format_nested_spec", "print('{0:{1.__class__}}'.format(1, 2))\nprint('POLICY-BYPASS')"),
    case(
        "format_reaches_frames",
        "def g():\n    yield 1\nprint('{0.gi_frame.f_globals}'.format(g()))\nprint('POLICY-BYPASS')",
    ),
    case(
        "format_str_subclass",
        "class S(str):\n    pass\nprint(S('{0.__class__}').format(1))\nprint('POLICY-BYPASS')",
    ),
    case(
        "format_via_getattr", "print(getattr('{0.__class__}', 'format')(1))\nprint('POLICY-BYPASS')"
    ),
    case("format_via_map", "print(list(map('{0.__class__}'.format, [1])))\nprint('POLICY-BYPASS')"),
    case(
        "format_via_methodcaller",
        "import operator\nprint(operator.methodcaller('format', 1)('{0.__class__}'))\nprint('POLICY-BYPASS')",
    ),
    case("fstring_dunder", "x = 1\nprint(f'{x.__class__.__base__.__subclasses__()}')"),
    case("fstring_nested_spec", "x = 1\nprint(f'{x!r:{x.__class__}}')"),
    case(
        "fstring_getattr",
        "print(f\"{getattr(object, '_' + '_subclasses__')}\")\nprint('POLICY-BYPASS')",
    ),
]

MODULE_WALKS = [
    case("random_os", "import random\nprint(random._os.environ)"),
    case(
        "random_os_getattr", "import random\nprint(getattr(random, '_os'))\nprint('POLICY-BYPASS')"
    ),
    case(
        "typing_sys",
        "import typing\nprint(typing.sys.modules['os'].environ)\nprint('POLICY-BYPASS')",
    ),
    case("typing_types", "import typing\nprint(typing.types.FunctionType)\nprint('POLICY-BYPASS')"),
    case(
        "statistics_sys",
        "import statistics\nprint(statistics.sys.modules['os'])\nprint('POLICY-BYPASS')",
    ),
    case("re_enum_chain", "import re\nprint(re.enum.sys.modules['os'])\nprint('POLICY-BYPASS')"),
    case("re_copyreg", "import re\nprint(re.copyreg)\nprint('POLICY-BYPASS')"),
    case(
        "textwrap_re_chain", "import textwrap\nprint(textwrap.re.enum.sys)\nprint('POLICY-BYPASS')"
    ),
    case(
        "dataclasses_sys",
        "import dataclasses\nprint(dataclasses.sys.modules['os'])\nprint('POLICY-BYPASS')",
    ),
    case(
        "dataclasses_builtins",
        "import dataclasses\ndataclasses.builtins.open('@CANARY@', 'w').write('pwned')\nprint('POLICY-BYPASS')",
    ),
    case(
        "dataclasses_inspect",
        "import dataclasses\nprint(dataclasses.inspect.currentframe())\nprint('POLICY-BYPASS')",
    ),
    case(
        "enum_bltns",
        "import enum\nenum.bltns.open('@CANARY@', 'w').write('pwned')\nprint('POLICY-BYPASS')",
    ),
    case(
        "json_codecs",
        "import json\njson.codecs.open('@CANARY@', 'w').write('pwned')\nprint('POLICY-BYPASS')",
    ),
    case(
        "json_decoder_scanner", "import json\nprint(json.decoder.scanner)\nprint('POLICY-BYPASS')"
    ),
    case(
        "collections_abc_sys",
        "import collections\nprint(collections.abc.sys)\nprint('POLICY-BYPASS')",
    ),
    case(
        "datetime_sys", "import datetime\nprint(datetime.sys.modules['os'])\nprint('POLICY-BYPASS')"
    ),
    case(
        "calendar_sys", "import calendar\nprint(calendar.sys.modules['os'])\nprint('POLICY-BYPASS')"
    ),
    case("uuid_os", "import uuid\nprint(uuid.os.environ)\nprint('POLICY-BYPASS')"),
    case("fractions_sys", "import fractions\nprint(fractions.sys.modules)\nprint('POLICY-BYPASS')"),
    case("module_dict", "import math\nprint(math.__dict__)"),
    case(
        "module_spec_getattr",
        "import json\nprint(getattr(json, '__spec__'))\nprint('POLICY-BYPASS')",
    ),
    case(
        "typing_get_type_hints",
        """
        import typing
        def f(x: "().__class__.__base__.__subclasses__()"):
            pass
        print(typing.get_type_hints(f))
        print('POLICY-BYPASS')
        """,
    ),
    case(
        "typing_get_type_hints_class",
        """
        import typing
        class A:
            x: "open('@CANARY@', 'w').write('pwned')"
        print(typing.get_type_hints(A))
        """,
    ),
    case(
        "matplotlib_os", "import matplotlib\nprint(matplotlib.os.environ)\nprint('POLICY-BYPASS')"
    ),
    case(
        "matplotlib_subprocess",
        "import matplotlib\nmatplotlib.subprocess.run(['touch', '@DROP_DIR@/mpl_sub'])\nprint('POLICY-BYPASS')",
    ),
    case(
        "pyplot_importlib",
        "import matplotlib.pyplot as plt\nprint(plt.importlib.import_module('os'))\nprint('POLICY-BYPASS')",
    ),
    case(
        "pyplot_sys",
        "import matplotlib.pyplot as plt\nprint(plt.sys.modules['os'])\nprint('POLICY-BYPASS')",
    ),
    case(
        "matplotlib_use_module",
        "import matplotlib\nmatplotlib.use('module://subprocess')\nprint('POLICY-BYPASS')",
    ),
    case(
        "matplotlib_rc_file",
        "import matplotlib\nmatplotlib.rc_file('@CANARY@')\nprint('POLICY-BYPASS')",
    ),
]

NUMPY = [
    case(
        "numpy_ctypeslib", "import numpy as np\nprint(np.ctypeslib.ctypes)\nprint('POLICY-BYPASS')"
    ),
    case("numpy_f2py", "import numpy as np\nprint(np.f2py.compile)\nprint('POLICY-BYPASS')"),
    case(
        "numpy_lib_open_memmap",
        "import numpy as np\nnp.lib.format.open_memmap('@DROP_DIR@/m.npy', mode='w+', dtype='u1', shape=(4,))",
    ),
    case(
        "numpy_array_ctypes",
        "import numpy as np\na = np.zeros(4)\nprint(a.ctypes.data_as)\nprint('POLICY-BYPASS')",
    ),
    case(
        "numpy_load_allow_pickle",
        "import numpy as np\nprint(np.load('evil.npy', allow_pickle=True))",
        files=evil_npy,
    ),
    case(
        "numpy_load_allow_pickle_positional",
        "import numpy as np\nprint(np.load('evil.npy', None, True))",
        files=evil_npy,
    ),
    case("numpy_dump_outside", "import numpy as np\nnp.zeros(2).dump('@DROP_DIR@/dumped.pkl')"),
    case("numpy_tofile_canary", "import numpy as np\nnp.arange(3).tofile('@CANARY@')"),
    case("numpy_tofile_host_tmp", "import numpy as np\nnp.arange(3).tofile('@OUTSIDE@')"),
    case(
        "numpy_fromfile_passwd",
        "import numpy as np\nprint(np.fromfile('/etc/passwd', dtype='u1').tobytes())",
    ),
    case(
        "numpy_fromfile_canary",
        "import numpy as np\nprint(np.fromfile('@CANARY@', dtype='u1').tobytes())",
    ),
    case(
        "numpy_memmap_canary",
        "import numpy as np\nm = np.memmap('@CANARY@', dtype='u1', mode='r+')\nm[:] = 65\nm.flush()",
    ),
    case(
        "numpy_memmap_read",
        "import numpy as np\nprint(np.memmap('@CANARY@', dtype='u1', mode='r').tobytes())",
    ),
    case(
        "numpy_loadtxt_passwd",
        "import numpy as np\nprint(np.loadtxt('/etc/passwd', dtype=str, delimiter='\\x01'))",
    ),
    case(
        "numpy_loadtxt_canary",
        "import numpy as np\nprint(np.loadtxt('@CANARY@', dtype=str, delimiter='\\x01'))",
    ),
    case(
        "numpy_loadtxt_traversal",
        "import numpy as np\nprint(np.loadtxt('@CANARY_REL@', dtype=str, delimiter='\\x01'))",
    ),
    case(
        "numpy_genfromtxt_host_file",
        "import numpy as np\nprint(np.genfromtxt('@HOST_FILE@', dtype=str, delimiter='\\x01'))",
    ),
    case(
        "numpy_fromregex_canary",
        "import numpy as np\nprint(np.fromregex('@CANARY@', r'(.+)', [('line', 'U200')]))",
    ),
    case(
        "numpy_rec_fromfile",
        "import numpy as np\nprint(np.rec.fromfile('@CANARY@', formats='S40', shape=1))",
    ),
    case("numpy_save_outside", "import numpy as np\nnp.save('@DROP_DIR@/x.npy', np.arange(3))"),
    case("numpy_save_host_tmp", "import numpy as np\nnp.save('@OUTSIDE@', np.arange(3))"),
    case("numpy_save_traversal", "import numpy as np\nnp.save('@DROP_REL@/t.npy', np.arange(3))"),
    case("numpy_savetxt_canary", "import numpy as np\nnp.savetxt('@CANARY@', np.arange(3))"),
    case("numpy_savez_outside", "import numpy as np\nnp.savez('@DROP_DIR@/z.npz', a=np.arange(3))"),
    case(
        "numpy_genfromtxt_url",
        "import numpy as np\nprint(np.genfromtxt('http://127.0.0.1:@PORT@/data.txt'))",
        docker=Expect(),
    ),
    case(
        "numpy_frompyfunc_getattr",
        "import numpy as np\nf = np.frompyfunc(getattr, 2, 1)\nprint(f(object, '_' + '_subclasses__'))\nprint('POLICY-BYPASS')",
    ),
    case(
        "numpy_vectorize_format",
        "import numpy as np\nprint(np.vectorize('{0.__class__}'.format)(1))\nprint('POLICY-BYPASS')",
    ),
    case(
        "numpy_as_strided_segfault",
        """
        import numpy as np
        from numpy.lib.stride_tricks import as_strided
        print(as_strided(np.zeros(1), shape=(10 ** 9,), strides=(8,)).sum())
        """,
        restricted=ANY,
        docker=ANY,
    ),
]

MATPLOTLIB = [
    case(
        "savefig_outside",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.savefig('@DROP_DIR@/x.png')",
    ),
    case(
        "savefig_host_tmp",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.savefig('@OUTSIDE@.png')",
    ),
    case(
        "savefig_traversal",
        "import matplotlib.pyplot as plt\nplt.plot([1])\nplt.savefig('@DROP_REL@/t.png')",
    ),
    case("imread_passwd", "import matplotlib.pyplot as plt\nprint(plt.imread('/etc/passwd'))"),
    case("imread_canary", "import matplotlib.pyplot as plt\nprint(plt.imread('@CANARY@'))"),
    case(
        "imsave_outside",
        "import numpy as np\nimport matplotlib.pyplot as plt\nplt.imsave('@DROP_DIR@/i.png', np.zeros((2, 2)))",
    ),
    case(
        "huge_figure",
        "import matplotlib.pyplot as plt\nplt.figure(figsize=(2000, 2000))\nplt.plot([1, 2])",
        restricted=ANY,
    ),
    case(
        "many_figures",
        "import matplotlib.pyplot as plt\nfor i in range(200):\n    plt.figure()",
        restricted=ANY,
        timeout_s=20,
    ),
]

# numpy hands the real, unwrapped function to ``__array_function__`` (and ``like=`` dispatches
# even file readers to it): whatever the policy wraps around numpy's file functions, the
# functions that come out of this door must be just as confined.
LEAKED_NUMPY_FUNCTION = """
import numpy as np
leaked = {}
class Grab:
    def __array_function__(self, func, types, args, kwargs):
        leaked[str(func)] = func
        return None
np.genfromtxt('x', like=Grab())
np.loadtxt('x', like=Grab())
np.save('x.npy', Grab())
np.savetxt('x.txt', Grab())
def leaked_function(name):
    return [f for key, f in leaked.items() if name in key][0]
"""

DISPATCH = [
    case(
        "numpy_like_dispatch_reads_host_file",
        LEAKED_NUMPY_FUNCTION
        + "print(leaked_function('genfromtxt')('@HOST_FILE@', dtype=str, delimiter='\\x01'))",
    ),
    case(
        "numpy_like_dispatch_reads_canary",
        LEAKED_NUMPY_FUNCTION
        + "print(leaked_function('loadtxt')('@CANARY@', dtype=str, delimiter='\\x01'))",
    ),
    case(
        "numpy_like_dispatch_reads_passwd",
        LEAKED_NUMPY_FUNCTION
        + "print(leaked_function('genfromtxt')('/etc/passwd', dtype=str, delimiter='\\x01'))",
        needles=(MARKER, "root:x:0:0"),
    ),
    case(
        "numpy_array_function_save_outside",
        LEAKED_NUMPY_FUNCTION + "leaked_function('save')('@DROP_DIR@/leaked.npy', np.arange(3))",
    ),
    case(
        "numpy_array_function_savetxt_canary",
        LEAKED_NUMPY_FUNCTION + "leaked_function('savetxt')('@CANARY@', np.arange(3))",
    ),
    case(
        "savefig_backend_imports_any_module",
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
        "fig.savefig('ok.png', backend='module://this')",
        needles=("The Zen of Python",),
    ),
    case(
        "draw_event_canvas_savefig_outside",
        """
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots()
        events = []
        fig.canvas.mpl_connect('draw_event', events.append)
        fig.canvas.draw()
        events[0].canvas.figure.savefig('@DROP_DIR@/event.png')
        """,
    ),
    case(
        "usetex_spawns_latex",
        "import matplotlib.pyplot as plt\nplt.rcParams['text.usetex'] = True\n"
        "plt.title('x')\nplt.savefig('tex.png')",
        restricted=ANY,
    ),
    case(
        "exit_gets_a_traceback",
        """
        class Catch:
            def __enter__(self):
                return self
            def __exit__(self, kind, error, tb):
                print(tb.tb_frame.f_back.f_globals)
                print('POLICY-BYPASS')
                return True
        with Catch():
            1 / 0
        """,
    ),
    case(
        "bit_generator_ctypes",
        "import numpy as np\nbg = np.random.default_rng().bit_generator\n"
        "print(bg.ctypes.state_address)\nprint('POLICY-BYPASS')",
    ),
    case(
        "numpy_load_allow_pickle_truthy",
        "import numpy as np\nprint(np.load('evil.npy', allow_pickle=1))",
        files=evil_npy,
    ),
    case(
        "numpy_load_allow_pickle_kwargs",
        "import numpy as np\nprint(np.load('evil.npy', **{'allow_pickle': True}))",
        files=evil_npy,
    ),
    case(
        "numpy_load_allow_pickle_partial",
        "import numpy as np\nimport functools\n"
        "print(functools.partial(np.load, allow_pickle=True)('evil.npy'))",
        files=evil_npy,
    ),
    case(
        "npz_allow_pickle_attribute",
        "import numpy as np\nz = np.load('evil.npz')\nz.allow_pickle = True\nprint(z['a'])",
        files=evil_npz,
    ),
    case(
        "npz_allow_pickle_setattr",
        "import numpy as np\nz = np.load('evil.npz')\nsetattr(z, 'allow_pickle', True)\nprint(z['a'])",
        files=evil_npz,
    ),
    case(
        "print_figure_backend_imports_any_module",
        "import matplotlib.pyplot as plt\nfig = plt.figure()\n"
        "fig.canvas.print_figure('ok.png', backend='module://this')",
        needles=("The Zen of Python",),
    ),
    # Object references forged from raw bytes are arbitrary pointers: a crash at best.
    case(
        "numpy_object_view",
        "import numpy as np\nprint(np.zeros(2, dtype='i8').view(object))",
        REFUSED,
        ANY,
    ),
    case(
        "numpy_object_array_over_buffer",
        "import numpy as np\nprint(np.ndarray(shape=(1,), dtype=object, buffer=bytearray(8)))",
        REFUSED,
        ANY,
    ),
    case(
        "numpy_structured_object_view",
        "import numpy as np\nprint(np.zeros(1, dtype=[('b', 'i8')]).view([('a', object)]))",
        REFUSED,
        ANY,
    ),
    case(
        "dataclass_field_name_injection",
        """
        import dataclasses
        name = "x=print('POLICY-BYPASS'),*,y"
        X = type('X', (), {'__annotations__': {name: int}, name: dataclasses.field(init=False)})
        dataclasses.dataclass(repr=False, eq=False)(X)
        """,
    ),
]

UNICODE = [
    case("fullwidth_dunder", "print(().__ｃｌａｓｓ__.__ｂａｓｅ__.__ｓｕｂｃｌａｓｓｅｓ__())"),
    case(
        "fullwidth_format_field",
        "print('{0.__ｃｌａｓｓ__}'.format(1))\nprint('POLICY-BYPASS')",
        docker=REFUSED,
    ),
    case("fullwidth_getattr", "print(ｇｅｔａｔｔｒ(object, '__subclasses__')())"),
    case("fullwidth_import_builtin", "__ｉｍｐｏｒｔ__('os').system('touch @DROP_DIR@/fw')"),
    case("fullwidth_exec", "ｅｘｅｃ(\"open('@CANARY@', 'w').write('pwned')\")"),
    case("fullwidth_guard_name", f"_ｇｅｔａｔｔｒ_ = {FAKE_GUARD}\nprint(().xyz)", docker=None),
    case(
        "fullwidth_frame_attribute",
        "def g():\n    yield 1\nprint(g().ｇｉ_ｆｒａｍｅ)\nprint('POLICY-BYPASS')",
    ),
    case("homoglyph_import", "import оs\nprint(оs.environ)", docker=REFUSED),  # Cyrillic о
    case("homoglyph_dunder", "print(().__сlass__)", docker=REFUSED),  # Cyrillic с
]

# Each replaces a RestrictedPython guard with FAKE_GUARD, then triggers it: printing the marker
# means user code took over the guard.
GUARD_NAMES = [
    case("guard_assign", f"_getattr_ = {FAKE_GUARD}\nprint(().xyz)", docker=None),
    case("guard_write", "_write_ = lambda o: o\nprint('POLICY-BYPASS')", docker=None),
    case("guard_print", "_print_ = None\nprint('POLICY-BYPASS')", docker=None),
    case("guard_def", "def _getiter_(x):\n    return x\nprint('POLICY-BYPASS')", docker=None),
    case(
        "guard_global",
        f"def f():\n    global _getattr_\n    _getattr_ = {FAKE_GUARD}\nf()\nprint(().xyz)",
        docker=None,
    ),
    case("guard_import_alias", "import math as _getattr_\nprint('POLICY-BYPASS')", docker=None),
    case("guard_for_target", f"for _getattr_ in [{FAKE_GUARD}]:\n    print(().xyz)", docker=None),
    case("guard_walrus", f"(_getattr_ := {FAKE_GUARD})\nprint(().xyz)", docker=None),
    case("guard_lambda_argument", f"print((lambda _getattr_: ().xyz)({FAKE_GUARD}))", docker=None),
    case(
        "guard_function_argument",
        f"def f(_getattr_):\n    return ().xyz\nprint(f({FAKE_GUARD}))",
        docker=None,
    ),
    case(
        "guard_comprehension_shadow",
        f"print([().xyz for _getattr_ in [{FAKE_GUARD}]])",
        docker=None,
    ),
    case(
        "guard_match_capture",
        f"match {FAKE_GUARD}:\n    case _getattr_:\n        print(().xyz)",
        docker=None,
    ),
    case("guard_class_name", "class _getattr_:\n    pass\nprint('POLICY-BYPASS')", docker=None),
    case(
        "guard_except_name",
        "try:\n    1 / 0\nexcept Exception as _getattr_:\n    print('POLICY-BYPASS')",
        docker=None,
    ),
    case(
        "guard_with_target",
        "class C:\n    def __enter__(self):\n        return 1\n    def __exit__(self, *a):\n        return False\nwith C() as _write_:\n    print('POLICY-BYPASS')",
        docker=None,
    ),
    case("guard_builtins_assign", "__builtins__ = {}\nprint('POLICY-BYPASS')", docker=None),
]

LOOPS = [
    case("endless_while", "while True:\n    pass", TIMEOUT, TIMEOUT, timeout_s=2),
    case(
        "endless_iter_sentinel", "for x in iter(int, 1):\n    pass", TIMEOUT, TIMEOUT, timeout_s=2
    ),
    case(
        "endless_generator",
        "def g():\n    while True:\n        yield 1\nfor x in g():\n    pass",
        TIMEOUT,
        TIMEOUT,
        timeout_s=2,
    ),
    case("sleep_forever", "import time\ntime.sleep(600)", TIMEOUT, TIMEOUT, timeout_s=2),
    case(
        "loop_swallowing_every_exception",
        "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
        TIMEOUT,
        TIMEOUT,
        timeout_s=2,
    ),
    case(
        "loop_in_finally",
        "try:\n    while True:\n        pass\nfinally:\n    while True:\n        pass",
        TIMEOUT,
        TIMEOUT,
        timeout_s=2,
    ),
    case("c_level_loop", "print(sum(range(10 ** 13)))", TIMEOUT, TIMEOUT, timeout_s=2),
    case(
        "catastrophic_regex",
        "import re\nprint(re.match(r'(a+)+$', 'a' * 64 + 'b'))",
        TIMEOUT,
        TIMEOUT,
        timeout_s=2,
    ),
    case(
        "loop_in_del_after_the_run",
        "class Stuck:\n    def __del__(self):\n        while True:\n            pass\nkeep = Stuck()\nprint('done')",
        ANY,
        ANY,
        timeout_s=2,
    ),
    case(
        "loop_in_exception_str",
        "class E(Exception):\n    def __str__(self):\n        while True:\n            pass\nraise E()",
        BOUNDED,
        BOUNDED,
        timeout_s=2,
    ),
]

MEMORY_BOMBS = [
    case("string_multiplication", "s = 'a' * 10 ** 10", MEMORY, MEMORY),
    case(
        "list_growth",
        "x = []\nwhile True:\n    x.append('a' * 10 ** 6)",
        MEMORY_OR_TIMEOUT,
        MEMORY_OR_TIMEOUT,
    ),
    case("bytearray", "b = bytearray(10 ** 10)", MEMORY, MEMORY),
    case("list_multiplication", "x = [0] * 10 ** 10", MEMORY, MEMORY),
    case("numpy_ones", "import numpy as np\na = np.ones((40000, 40000))", MEMORY, MEMORY),
    case(
        "string_doubling",
        "s = 'a'\nwhile True:\n    s = s + s",
        MEMORY_OR_TIMEOUT,
        MEMORY_OR_TIMEOUT,
    ),
    case("huge_power", "x = 10 ** 10 ** 8", BOUNDED, BOUNDED, timeout_s=3),
    case("huge_pow_builtin", "x = pow(10, 10 ** 10)", BOUNDED, BOUNDED, timeout_s=3),
    case(
        "int_to_str_digit_limit",
        "print(2 ** 100000)",
        Expect(outcomes=("ValueError",)),
        Expect(outcomes=("ValueError",)),
    ),
    case(
        "str_to_int_digit_limit",
        "print(int('9' * 100000))",
        Expect(outcomes=("ValueError",)),
        Expect(outcomes=("ValueError",)),
    ),
]

OUTPUT_FLOODS = [
    case("endless_print", "while True:\n    print('A' * 1000)", FLOOD, FLOOD, timeout_s=3),
    case("one_huge_print", "print('B' * 10 ** 8)", FLOOD, FLOOD),
    case("many_lines", "for i in range(300000):\n    print(i)", FLOOD, FLOOD),
    case("no_newline_flood", "print('C' * 10 ** 6, end='')", FLOOD, FLOOD),
    case(
        "stderr_flood",
        "import sys\nwhile True:\n    sys.stderr.write('E' * 10000)",
        blocked("sys"),
        FLOOD,
        timeout_s=3,
    ),
    case("huge_exception_message", "raise ValueError('x' * 10 ** 7)", REFUSED, REFUSED),
    case(
        "huge_exception_str",
        "class E(Exception):\n    def __str__(self):\n        return 'y' * 10 ** 8\nraise E()",
        REFUSED,
        REFUSED,
    ),
    case(
        "failing_exception_str",
        "class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no str')\nraise E()",
        REFUSED,
        REFUSED,
    ),
    case(
        "file_over_size_cap",
        "import numpy as np\nnp.save('big.npy', np.zeros(5 * 10 ** 6))",
        ANY,
        ANY,
    ),
]

PROCESSES = [
    case("fork_bomb", "import os\nwhile True:\n    os.fork()", blocked("os"), BOUNDED, timeout_s=5),
    case(
        "thread_bomb",
        "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(100,)).start()",
        blocked("threading"),
        BOUNDED,
        timeout_s=5,
    ),
    case(
        "subprocess_bomb",
        "import subprocess\nprocs = [subprocess.Popen(['sleep', '100']) for i in range(10000)]",
        blocked("subprocess"),
        BOUNDED,
        timeout_s=5,
    ),
    case("os_exit", "import os\nos._exit(0)", REFUSED, REFUSED),
    case(
        "kill_self",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        blocked("os"),
        REFUSED,
    ),
    case(
        "kill_pid_1",
        "import os, signal\nos.kill(1, signal.SIGKILL)\nprint('after')",
        blocked("os"),
        ANY,
    ),
    case("segfault", "import ctypes\nctypes.string_at(0)", blocked("ctypes"), REFUSED),
    case("system_exit", "raise SystemExit(3)", ANY, ANY),
    case("keyboard_interrupt", "raise KeyboardInterrupt", REFUSED, REFUSED),
    case("generator_exit", "raise GeneratorExit", REFUSED, REFUSED),
    case(
        "close_protocol_fds",
        "import os\nos.close(0)\nos.close(1)\nprint('closed')",
        blocked("os"),
        ANY,
    ),
    case(
        "forge_protocol_frame",
        """
        import os, json
        forged = json.dumps({'ok': True, 'stdout': 'FORGED', 'backend': 'x'}).encode()
        for fd in (1, 2):
            os.write(fd, b'%d\\n' % len(forged) + forged)
        print('after forging')
        """,
        blocked("os"),
        ANY,
    ),
    case(
        "read_protocol_stdin",
        "import sys\nprint(repr(sys.stdin.read(100)))",
        blocked("sys"),
        ANY,
        timeout_s=3,
    ),
    case("input_builtin", "print(input())", REFUSED, ANY, timeout_s=3),
]

ENVIRONMENT = [
    case("os_environ", "import os\nprint(dict(os.environ))", blocked("os")),
    case("proc_self_environ", "print(open('/proc/self/environ', 'rb').read())"),
    case("proc_1_environ", "print(open('/proc/1/environ', 'rb').read())"),
    case("proc_host_environ", "print(open('/proc/@HOST_PID@/environ', 'rb').read())"),
    case(
        "proc_parent_environ",
        "import os\nprint(open(f'/proc/{os.getppid()}/environ', 'rb').read())",
        blocked("os"),
    ),
    case(
        "numpy_proc_self_environ",
        "import numpy as np\nprint(np.fromfile('/proc/self/environ', dtype='u1').tobytes())",
    ),
    case(
        "numpy_proc_host_environ",
        "import numpy as np\nprint(np.fromfile('/proc/@HOST_PID@/environ', dtype='u1').tobytes())",
    ),
    case(
        "numpy_proc_host_cmdline",
        "import numpy as np\nprint(np.fromfile('/proc/@HOST_PID@/cmdline', dtype='u1').tobytes())\nprint('POLICY-BYPASS')",
    ),
]

FILES = [
    case("open_passwd", "print(open('/etc/passwd').read())"),
    case("open_canary", "print(open('@CANARY@').read())"),
    case("open_host_project_file", "print(open('@HOST_FILE@').read())"),
    case("open_traversal", "print(open('@CANARY_REL@').read())"),
    case("write_canary", "open('@CANARY@', 'w').write('pwned')"),
    case("write_drop_dir", "open('@DROP_DIR@/new.txt', 'w').write('pwned')"),
    case("write_host_tmp", "open('@OUTSIDE@', 'w').write('pwned')"),
    case("write_traversal", "open('@DROP_REL@/trav.txt', 'w').write('pwned')"),
    case(
        "symlinks_to_host_files",
        """
        import os
        os.symlink('@CANARY@', 'canary_link.txt')
        os.symlink('/proc/@HOST_PID@/environ', 'env_link.txt')
        os.symlink('@HOST_FILE@', 'host_link.txt')
        os.symlink('@DROP_DIR@', 'drop_link')
        print('linked')
        """,
        blocked("os"),
    ),
    case(
        "write_image_filesystem",
        "open('/usr/local/sitecustomize.py', 'w').write('print(1)')",
        docker=REFUSED,
    ),
]

NETWORK = [
    case(
        "socket_to_host_loopback",
        "import socket\ns = socket.create_connection(('127.0.0.1', @PORT@), timeout=2)\nprint('POLICY-BYPASS')",
        blocked("socket"),
        REFUSED,
    ),
    case(
        "socket_to_docker_gateway",
        "import socket\ns = socket.create_connection(('172.17.0.1', @PORT@), timeout=2)\nprint('connected')",
        blocked("socket"),
        REFUSED,
    ),
    case(
        "urllib_to_host",
        "import urllib.request\nprint(urllib.request.urlopen('http://127.0.0.1:@PORT@/', timeout=2).read())",
        blocked("urllib"),
        REFUSED,
    ),
    case(
        "dns_lookup",
        "import socket\nprint(socket.getaddrinfo('pypi.org', 443))",
        blocked("socket"),
        REFUSED,
    ),
    case(
        "docker_socket",
        "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('/var/run/docker.sock')\nprint('connected')",
        blocked("socket"),
        REFUSED,
    ),
]

RECURSION = [
    case(
        "recursion",
        "def f(n):\n    return f(n + 1)\nf(0)",
        Expect(outcomes=("RecursionError",)),
        Expect(outcomes=("RecursionError",)),
    ),
    case(
        "recursive_repr",
        "class A:\n    def __repr__(self):\n        return repr(self)\nprint(A())",
        Expect(outcomes=("RecursionError",)),
        Expect(outcomes=("RecursionError",)),
    ),
    case(
        "deeply_nested_list_repr",
        "x = []\nfor i in range(100000):\n    x = [x]\nprint(x)",
        REFUSED,
        REFUSED,
    ),
    case(
        "deeply_nested_json",
        "import json\njson.loads('[' * 100000 + ']' * 100000)",
        REFUSED,
        REFUSED,
    ),
    case("compile_bomb_unary", "x = " + "-" * 100_000 + "1", REFUSED, REFUSED),
    case("compile_bomb_parens", "x = " + "(" * 300 + "1" + ")" * 300, REFUSED, REFUSED),
    case("compile_bomb_not", "x = " + "not " * 50_000 + "True", REFUSED, REFUSED),
    # Parses in CPython, but recursive AST rewriting (as a policy compiler does) runs out of stack.
    case("deep_but_valid_expression", "x = " + "-" * 900 + "1\nprint(x)", ANY, ANY),
    case("long_attribute_chain", "x = a" + ".b" * 5000, REFUSED, REFUSED),
    case("long_flat_sum", "x = 1" + " + 1" * 100_000, REFUSED, REFUSED),
    case(
        "raised_recursion_limit",
        "import sys\nsys.setrecursionlimit(10 ** 6)\ndef f(n):\n    return f(n + 1)\nf(0)",
        blocked("sys"),
        REFUSED,
    ),
]

BUILTINS_TAMPERING = [
    case("delete_print", "del print", ANY, ANY),
    case("shadow_builtins", "len = None\nprint = None\nrange = None\nstr = None", ANY, ANY),
    case(
        "mutate_builtins_module",
        "import builtins\nbuiltins.print = None\nbuiltins.len = None",
        blocked("builtins"),
        ANY,
    ),
    case(
        "mutate_exception_class",
        "ZeroDivisionError.args = 1\nprint('POLICY-BYPASS')",
        REFUSED,
        REFUSED,
    ),
    case("raise_non_exception", "raise 1", REFUSED, REFUSED),
    case(
        "exception_args_walk",
        "try:\n    {}['k']\nexcept KeyError as e:\n    print(getattr(e, '_' + '_traceback__').tb_frame)\nprint('POLICY-BYPASS')",
    ),
]

CASES = (
    IMPORTS
    + ATTRIBUTE_WALKS
    + FRAMES
    + FORMAT_STRINGS
    + MODULE_WALKS
    + NUMPY
    + MATPLOTLIB
    + DISPATCH
    + UNICODE
    + GUARD_NAMES
    + LOOPS
    + MEMORY_BOMBS
    + OUTPUT_FLOODS
    + PROCESSES
    + ENVIRONMENT
    + FILES
    + NETWORK
    + RECURSION
    + BUILTINS_TAMPERING
)


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 60


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_escape_is_contained(case: Case, backend, sandbox, containment):
    expect = case.restricted if backend == "restricted" else case.docker
    if expect is None:
        pytest.skip("a RestrictedPython policy case: real CPython in a container may do this")
    code = containment.fill(case.code)
    files = case.files(containment.fill) if case.files else None
    limits = run_limits(sandbox, timeout_s=case.timeout_s)
    try:
        result = sandbox.run(code, files=files, limits=limits)
    except Exception as exc:  # noqa: BLE001 - the point: nothing may be raised into the host
        problems = [f"run() raised into the host: {type(exc).__name__}: {exc}"]
        result = None
    else:
        problems = containment.problems(result) + expect.problems(result)
        shown = [needle for needle in case.needles if needle in result.stdout]
        if backend == "restricted" and shown:
            problems.append(f"stdout shows {shown}: the policy let the payload through")
    problems += containment.still_works()
    assert not problems, f"{case.id}: {'; '.join(problems)}\n  result: {describe(result)}"


# ---------------------------------------------------------------- state between separate runs

# (first run, second run, what the second run must print). The first run may be refused; it must
# never change what a later, unrelated run sees.
LEAKS = [
    pytest.param(
        "import json\njson.dumps = None",
        "import json\nprint(json.dumps([1]))",
        "[1]\n",
        id="module_function_replaced",
    ),
    pytest.param(
        "import math\nmath.leak = 1",
        "import math\nprint(hasattr(math, 'leak'))",
        "False\n",
        id="module_attribute_added",
    ),
    pytest.param(
        "import decimal\ndecimal.getcontext().prec = 3",
        "import decimal\nprint(decimal.Decimal(1) / decimal.Decimal(7))",
        "0.1428571428571428571428571429\n",
        id="decimal_context",
    ),
    pytest.param(
        "import numpy as np\nnp.set_printoptions(precision=1)",
        "import numpy as np\nprint(np.array([0.12345]))",
        "[0.12345]\n",
        id="numpy_print_options",
    ),
    pytest.param(
        "import numpy as np\nnp.save('left_behind.npy', np.arange(3))",
        "import numpy as np\ntry:\n    np.load('left_behind.npy')\n    print('visible')\n"
        "except Exception:\n    print('gone')",
        "gone\n",
        id="work_dir_files",
    ),
    pytest.param(
        "import builtins\nbuiltins.leak = 1",
        "try:\n    leak\n    print('visible')\nexcept NameError:\n    print('gone')",
        "gone\n",
        id="builtins_module",
    ),
    pytest.param(
        "open('/tmp/leak.txt', 'w').write('x')",
        "try:\n    open('/tmp/leak.txt').read()\n    print('visible')\nexcept Exception:\n    print('gone')",
        "gone\n",
        id="tmp_files",
    ),
    pytest.param(
        "import os, time\nif os.fork() == 0:\n    time.sleep(1)\n"
        "    open('late.txt', 'w').write('x')\n    os._exit(0)",
        "import time\ntime.sleep(2)\nimport numpy as np\ntry:\n    np.loadtxt('late.txt', dtype=str)\n"
        "    print('visible')\nexcept Exception:\n    print('gone')",
        "gone\n",
        id="background_process",
    ),
]


@pytest.mark.parametrize(("first", "second", "expected"), LEAKS)
def test_runs_without_a_session_leave_nothing_for_the_next(sandbox, first, second, expected):
    sandbox.run(first)
    result = sandbox.run(second)
    if result.error is not None and result.error.kind in ("policy", "import"):
        pytest.skip(f"this backend refuses the probe itself: {result.error}")
    assert result.stdout == expected, describe(result)


def test_a_session_tampering_with_builtins_affects_only_itself(sandbox):
    sandbox.run("print = None\nlen = None", session_id="tamperer")
    result = sandbox.run("print(len('abc'))", session_id="bystander")
    assert result.stdout == "3\n", describe(result)
    assert sandbox.run("print(len('abcd'))").stdout == "4\n"


def test_one_session_cannot_find_another_sessions_data(sandbox, containment):
    """Session B keeps a secret in a variable and a file; session A and a plain run go looking."""
    token = "session-b-secret-" + uuid.uuid4().hex
    store = f"import numpy as np\ntoken = {token!r}\nnp.save('b_secret.npy', np.array([token.encode()]))"
    assert sandbox.run(store, session_id="holder").ok
    probe = textwrap.dedent(
        """
        import os
        found = []
        def grab(path):
            try:
                with open(path, 'rb') as handle:
                    found.append(handle.read(1 << 20).decode('latin-1'))
            except Exception:
                pass
        def listing(folder):
            try:
                return os.listdir(folder)
            except Exception:
                return []
        for pid in [p for p in listing('/proc') if p.isdigit()] + ['self', '1']:
            grab(f'/proc/{pid}/environ')
            grab(f'/proc/{pid}/cmdline')
            for entry in listing(f'/proc/{pid}/cwd'):
                grab(f'/proc/{pid}/cwd/{entry}')
        for folder in ('.', '..', '/work', '/tmp'):
            for entry in listing(folder):
                grab(os.path.join(folder, entry))
        needle = 'session-b-' + 'secret'
        print([text[text.index(needle):][:60] for text in found if needle in text])
        """
    )
    # The probe can see: run in the holder's own session, it finds the holder's file.
    own = sandbox.run(probe, session_id="holder")
    if own.ok:
        assert token in own.stdout, describe(own)
    for session in ("snooper", None):
        result = sandbox.run(probe, session_id=session)
        assert token not in result.stdout + result.stderr, describe(result)
        assert not containment.problems(result), containment.problems(result)
    assert sandbox.run("print(token[:10])", session_id="holder").stdout == "session-b-\n"


@pytest.mark.parametrize(
    "name",
    ["@DROP_REL@/in.txt", "@DROP_DIR@/abs.txt", "../in.txt", "..", "."],
    ids=["traversal", "absolute", "parent", "dotdot", "dot"],
)
def test_input_file_names_cannot_escape_the_work_dir(sandbox, containment, name):
    """Input names come from callers (uploads, models): a hostile one must not write on the host."""
    try:
        result = sandbox.run("print('ran')", files={containment.fill(name): b"payload"})
    except (ValueError, SandboxError):
        result = None  # refusing the input outright is fine
    assert not containment.canary.problems(), containment.canary.problems()
    if result is not None:
        assert not containment.problems(result), describe(result)
    assert not containment.still_works()


def test_many_created_files_come_back_cleanly(sandbox, containment):
    code = (
        "import numpy as np\nz = np.zeros(0)\nfor i in range(20000):\n    np.save(f'f{i}.npy', z)\n"
    )
    result = sandbox.run(code, limits=run_limits(sandbox, timeout_s=30))
    assert not containment.problems(result), describe(result)
    assert not containment.still_works()
