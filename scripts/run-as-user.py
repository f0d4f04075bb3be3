#!/usr/bin/env python3
"""Run a command as an unprivileged user, from this checkout, wherever the checkout lives.

    scripts/run-as-user.py USER -- COMMAND...   (as root; the command runs in the checkout)

CI runs the sandbox's adversarial tests a second time this way (scripts/test.sh), because a
Hugging Face Space runs the app as a non-root user and the sandbox's unprivileged path must not
regress. The checkout, its .venv and the interpreter behind it may sit below directories the
user cannot enter (a clone in /root, a pyenv Python): in a private mount namespace each such
directory is covered by a tmpfs that shows only those paths. Nothing on the host is chmod-ed,
and nothing but this command sees the change. The environment is a minimal one (no secrets).
"""

from __future__ import annotations

import os
import pwd
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sandbox.runtime.lockdown import private_mounts_revealing  # noqa: E402


def _others_can_enter(path: str) -> bool:
    path = os.path.realpath(path)
    while path != "/":
        if not os.stat(path).st_mode & 0o001:
            return False
        path = os.path.dirname(path)
    return True


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("run-as-user: must be started as root", file=sys.stderr)
        return 2
    user = pwd.getpwnam(argv[0])
    command = argv[2:]
    venv = os.path.join(ROOT, ".venv")
    python = os.path.realpath(os.path.join(venv, "bin", "python"))
    paths = [ROOT, venv, sys.base_prefix, os.path.dirname(os.path.dirname(python))]
    paths = [p for p in paths if os.path.exists(p)]
    if not private_mounts_revealing(paths) and not all(map(_others_can_enter, paths)):
        print(
            "run-as-user: cannot make a private mount namespace, and the checkout or its "
            f"Python is below a directory other users cannot enter ({paths})",
            file=sys.stderr,
        )
        return 1
    os.chdir(ROOT)
    os.setgroups([])
    os.setresgid(user.pw_gid, user.pw_gid, user.pw_gid)
    os.setresuid(user.pw_uid, user.pw_uid, user.pw_uid)
    env = {
        "PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        **{
            key: os.environ[key]
            for key in ("CI", "MISTRAL_EXECUTOR_DOCKER_IMAGE")
            if key in os.environ
        },
    }
    os.execvpe(command[0], command, env)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
