"""``wavelearn.keep_freed_memory``: freed big arrays stay in the process and are reused.

It changes the process (glibc's ``mallopt``), so each check runs in a Python of
its own. What is checked is deterministic: the resident memory after a big
array is freed (kept or handed back), and the page faults of writing a second
array of the same size (none when the memory was kept).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

import wavelearn as wl

PROBE = r"""
import json, resource, sys
import numpy as np
import wavelearn as wl
if sys.argv[1] == "keep":
    wl.keep_freed_memory()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
n = 200 * 2**20 // 8  # 200 MiB of float64
before = rss()
a = np.ones(n)
del a
after_free = rss() - before
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.ones(n)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
print(json.dumps({"after_free": after_free, "faults": faults}))
"""

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or sys.platform != "linux",
                                reason="mallopt is glibc's; /proc is Linux's")


def probe(mode: str) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout)


@glibc_only
def test_freed_memory_is_kept_and_reused_without_page_faults() -> None:
    kept, default = probe("keep"), probe("default")
    mib = 2**20
    assert kept["after_free"] > 190 * mib  # the freed 200 MiB stayed in the process
    assert kept["faults"] < 20  # the second array took them: no new pages
    assert default["after_free"] < 10 * mib  # glibc's default: handed back at once
    assert default["faults"] > 90  # and new pages for the second (2 MiB ones or 4 KiB)


def test_keep_freed_memory_says_why_where_the_c_library_is_not_glibc(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    with pytest.raises(RuntimeError, match="needs glibc.*nothing was changed"):
        wl.keep_freed_memory()
