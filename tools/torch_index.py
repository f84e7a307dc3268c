"""Print the pip option that takes PyTorch's CPU build, if PyTorch's index answers:
``python tools/torch_index.py [INDEX]`` (default https://download.pytorch.org/whl/cpu).

On Linux, PyPI's torch is the CUDA build, which pulls several GB of NVIDIA wheels. PyTorch's
CPU index has the same release as ``2.13.0+cpu``, which the pin ``torch==2.13.0`` matches and
pip prefers to PyPI's ``2.13.0`` (a local version label sorts above the plain version). The
Makefile adds what this prints, ``--extra-index-url INDEX``, to its torch installs. Where
the index does not answer within TIMEOUT seconds (no internet, a firewall, no name
resolution), nothing is printed and pip looks only where it is configured to, as before
(e.g. a local CPU wheel in its find-links), so nothing waits on an unreachable host. An empty
INDEX turns the probe off (``make torch TORCH_INDEX=``).
"""

from __future__ import annotations

import sys
import threading
import urllib.request

DEFAULT = "https://download.pytorch.org/whl/cpu"

#: Seconds to wait for the index, name resolution included.
TIMEOUT = 2.0


def answers(url, timeout=TIMEOUT):
    """Whether ``url`` answers a GET with a success status within ``timeout`` seconds. The
    request runs in a daemon thread: urllib's own timeout does not bound name resolution."""
    ok = []

    def probe():
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                ok.append(200 <= response.status < 300)
        except Exception:  # any failure means: do not use this index
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(ok and ok[0])


def main(argv):
    index = (argv[1] if len(argv) > 1 else DEFAULT).strip().rstrip("/")
    if not index:
        return 0
    if answers(f"{index}/torch/"):
        print(f"--extra-index-url {index}")
        print(f"torch: the CPU build, from {index}", file=sys.stderr)
    else:
        print(f"torch: {index} did not answer within {TIMEOUT:g} s; pip takes torch from the "
              "indexes it is configured with", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
