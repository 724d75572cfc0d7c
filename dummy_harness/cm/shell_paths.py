"""Paths handed to a shell that evaluates command strings, made harmless there.

The CM and MLCFlow runners export every env value as `export K="V"` and `eval` the command (benchmark-program:
`cd ${CM_RUN_DIR}` unquoted, `tee '<logs dir>/console.out'`), and MLPerf's official compliance scripts build
`os.system` strings from the folders they are given. A user's path (a space, a quote, `$`, a backtick) must
never reach them as text. Where such a path is needed there, a link with a plain name under a private folder of
this user's stands in for it: the files still land in the user's folder, and no shell sees its name.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile

# Safe unquoted in any shell word, and inside the runner's single and double quotes.
_PLAIN = re.compile(r"[A-Za-z0-9_./+,:@%=-]+")
# What bash re-reads inside `export K="V"`: the rest (spaces, single quotes, letters of any script) stays as is.
_ACTIVE_IN_DOUBLE_QUOTES = re.compile(r"[\"$`\\\n\r]")


class ShellPathError(RuntimeError):
    """No plain stand-in can be made here; str() is one line."""


def is_plain(text: str) -> bool:
    return bool(_PLAIN.fullmatch(text))


def inert_in_double_quotes(text: str) -> bool:
    """Whether `export K="text"` gives K exactly `text` (nothing expanded, nothing run)."""
    return not _ACTIVE_IN_DOUBLE_QUOTES.search(text)


def link_folder() -> str:
    """This user's private folder of stand-in links, under the first temporary folder with a plain name."""
    for base in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        folder = os.path.join(os.path.abspath(base), f"mlperf-dummy-harness-{os.getuid()}")
        if not is_plain(folder):
            continue
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        except OSError:
            continue
        info = os.lstat(folder)
        # Another user's folder (or a link planted in a shared /tmp) would let them redirect our runs.
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077:
            return folder
        raise ShellPathError(f"{folder} is not a private folder of this user's; remove it and run again")
    raise ShellPathError("no temporary folder with a plain name (letters, digits, . _ / + , : @ % = -) is "
                         "writable; set TMPDIR to one")


def plain_path(path: str) -> str:
    """`path` itself when its name is plain, else a plain-named link to it (one per target, reused).
    The target must exist: the link resolves to it from then on."""
    path = os.path.abspath(path)
    if is_plain(path):
        return path
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:20]
    link = os.path.join(link_folder(), digest)
    try:
        if os.readlink(link) == path:
            return link
    except OSError:
        pass
    staged = f"{link}.{os.getpid()}"
    try:
        os.symlink(path, staged)
        os.replace(staged, link)
    except OSError as exc:
        raise ShellPathError(f"cannot make a plain-named link to {path!r} in {os.path.dirname(link)}: "
                             f"{exc.strerror or exc}") from None
    return link


def env_path(path: str) -> str:
    """`path` as a CM env value: itself where `export K="V"` leaves it intact, else its plain-named link."""
    return path if inert_in_double_quotes(path) else plain_path(path)
