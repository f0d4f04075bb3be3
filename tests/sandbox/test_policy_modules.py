"""Modules offered because real code imports them, each with what it must not bring along.

io (in-memory streams only), csv, numbers, unicodedata, stat, queue, abc, contextlib (no chdir),
mpl_toolkits.mplot3d and numpy.ma; a refused submodule reached as an attribute fails like its
import; ``mro()``/``__mro__`` are readable on the code's own classes.
"""

from __future__ import annotations

import pytest

from sandbox.restricted.policy import Policy, PolicyError, PolicyImportError
from tests.sandbox.test_policy import output_of
from tests.sandbox.test_policy_adversarial import refused


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy()


def test_io_offers_in_memory_streams_only(policy):
    source = (
        "import io\ns = io.StringIO()\ns.write('hi')\nb = io.BytesIO(b'ab')\n"
        "print(s.getvalue(), b.read(1), sorted(n for n in dir(io) if not n.startswith('_')))"
    )
    assert output_of(policy, source) == (
        "hi b'a' ['BytesIO', 'SEEK_CUR', 'SEEK_END', 'SEEK_SET', 'StringIO', "
        "'UnsupportedOperation']\n"
    )


@pytest.mark.parametrize(
    "name", ["open", "FileIO", "open_code", "TextIOWrapper", "BufferedReader", "IOBase"]
)
def test_io_cannot_open_or_wrap_files(policy, name):
    refused(policy, f"import io\nio.{name}", also=(AttributeError,))
    assert policy.check(f"from io import {name}")["kind"] == "import"


def test_in_memory_streams_work_where_libraries_want_a_file(policy):
    source = (
        "import io, csv\nimport numpy as np\nimport matplotlib.pyplot as plt\n"
        "buf = io.BytesIO()\nnp.save(buf, np.arange(3))\nbuf.seek(0)\nprint(np.load(buf))\n"
        "png = io.BytesIO()\nplt.plot([1, 2])\nplt.savefig(png, format='png')\n"
        "print(png.getvalue()[:4])\n"
        "text = io.StringIO()\ncsv.writer(text).writerows([['a', 1], ['b', 2]])\n"
        "print(list(csv.DictReader(io.StringIO('x,y\\n1,2\\n'))), text.getvalue().split())"
    )
    assert output_of(policy, source) == (
        "[0 1 2]\nb'\\x89PNG'\n[{'x': '1', 'y': '2'}] ['a,1', 'b,2']\n"
    )


def test_a_stream_subclass_cannot_hand_a_descriptor_to_a_library(policy):
    source = (
        "import io\nimport matplotlib.pyplot as plt\nclass F(io.BytesIO):\n"
        "    def fileno(self):\n        return 1\nplt.plot([1])\nplt.savefig(F(), format='png')"
    )
    refused(policy, source, match="io.BytesIO")


def test_small_stdlib_modules_work(policy):
    source = (
        "import numbers, unicodedata, stat, queue, abc, contextlib, io\n"
        "class Shape(abc.ABC):\n    @abc.abstractmethod\n    def area(self): ...\n"
        "class Sq(Shape):\n    def area(self):\n        return 4\n"
        "q = queue.PriorityQueue()\nq.put((2, 'b'))\nq.put((1, 'a'))\n"
        "out = io.StringIO()\nwith contextlib.redirect_stdout(out):\n    print('inside')\n"
        "with contextlib.suppress(KeyError):\n    {}['x']\n"
        "@contextlib.contextmanager\ndef cm():\n    yield 5\n"
        "with cm() as five:\n    pass\n"
        "print(isinstance(2, numbers.Integral), isinstance(2.5, numbers.Real),\n"
        "      unicodedata.name('é'), unicodedata.normalize('NFD', 'é') != 'é',\n"
        "      stat.S_ISDIR(0o040755), stat.filemode(0o100644), q.get(), Sq().area(),\n"
        "      out.getvalue().strip(), five)\n"
        "try:\n    Shape()\nexcept TypeError:\n    print('abstract')"
    )
    assert output_of(policy, source) == (
        "True True LATIN SMALL LETTER E WITH ACUTE True True -rw-r--r-- (1, 'a') 4 inside 5\n"
        "abstract\n"
    )


def test_contextlib_chdir_is_not_offered(policy):
    assert policy.check("from contextlib import chdir")["kind"] == "import"
    refused(policy, "import contextlib\ncontextlib.chdir('/')", also=(AttributeError,))


def test_abc_metaclass_is_not_handed_out(policy):
    refused(policy, "import abc\nabc.ABCMeta('X', (), {})", also=(AttributeError,))


def test_mplot3d_and_numpy_ma_work(policy):
    source = (
        "import numpy as np\nimport numpy.ma as ma\nimport matplotlib.pyplot as plt\n"
        "from mpl_toolkits.mplot3d import Axes3D\nfrom mpl_toolkits.mplot3d.art3d import "
        "Poly3DCollection\n"
        "fig = plt.figure()\nax = fig.add_subplot(projection='3d')\n"
        "ax.plot_surface(*np.meshgrid(np.arange(3), np.arange(3)), np.ones((3, 3)))\n"
        "ax.add_collection3d(Poly3DCollection([[(0, 0, 0), (1, 0, 0), (0, 1, 0)]]))\n"
        "ax.view_init(elev=20, azim=30)\nax.elev = 25\n"
        "m = ma.masked_array([1, 2, 3], mask=[0, 1, 0])\nm.fill_value = 0\n"
        "print(isinstance(ax, Axes3D), m.sum(), m.filled().tolist(), ma.masked_invalid("
        "[1.0, np.nan]).count())"
    )
    assert output_of(policy, source) == "True 4 [1, 0, 3] 1\n"


def test_numpy_ma_never_hands_out_the_raw_ndarray(policy):
    source = (
        "import numpy.ma as ma\nraw = ma.masked_array([1]).baseclass\nraw((1,), object, b'1' * 8)"
    )
    refused(policy, source, also=(TypeError,))


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import numpy as np\nnp.testing", "numpy.testing"),
        ("import numpy as np\nnp.lib.stride_tricks.as_strided", "numpy.lib"),
        ("import numpy as np\nnp.ctypeslib", "numpy.ctypeslib"),
        ("import matplotlib\nmatplotlib.font_manager", "matplotlib.font_manager"),
        ("import collections\ncollections.abc\nimport json\njson.decoder", "json.decoder"),
    ],
)
def test_refused_submodules_reached_as_attributes_fail_like_their_import(policy, source, module):
    error = refused(policy, source)
    assert isinstance(error, PolicyImportError) and error.kind == "import"
    assert str(error).startswith(f"import of '{module}' is not allowed; allowed modules: ")
    assert "numpy" in str(error)


def test_from_import_of_a_refused_submodule_names_the_import(policy):
    info = policy.check("from numpy import testing")
    assert info["kind"] == "import"
    assert "import of 'numpy.testing' is not allowed" in info["message"]


def test_missing_attributes_of_modules_stay_attribute_errors(policy):
    source = "import numpy as np\nprint(hasattr(np, 'nope'), getattr(np, 'nope', 1))"
    assert output_of(policy, source) == "False 1\n"


def test_mro_of_the_users_own_classes_is_readable(policy):
    source = (
        "import numpy as np\nclass A:\n    pass\nclass B(A):\n    pass\n"
        "class C(np.ndarray):\n    pass\n"
        "print([k.__name__ for k in B.mro()], [k.__name__ for k in B.__mro__])\n"
        "print([k.__name__ for k in C.__mro__], C.__mro__[1] is np.ndarray)"
    )
    assert output_of(policy, source) == (
        "['B', 'A', 'object'] ['B', 'A', 'object']\n['C', 'ndarray', 'object'] True\n"
    )


def test_mro_of_a_user_class_never_hands_out_a_real_numpy_constructor(policy):
    source = (
        "import numpy as np\nclass C(np.ndarray):\n    pass\n"
        "for k in C.__mro__:\n    k((1,), object, b'1' * 8)"
    )
    refused(policy, source, also=(TypeError,))


@pytest.mark.parametrize(
    "source",
    ["int.mro()", "type(1).__mro__", "import random\nrandom.Random.__mro__", "type.mro(int)"],
)
def test_mro_of_library_classes_is_refused_with_a_reason(policy, source):
    error = refused(policy, source)
    assert isinstance(error, PolicyError)
    assert "classes defined in this code" in str(error)
