"""Section kernels started ahead of need, with the helpers already imported.

Starting a kernel and importing pandas, seaborn, lifetimes and the helpers takes about 3 s of
one core. The batch warms as many kernels as sections can run at once while the runner
validates the inputs, then one spare at a time while sections run (each idle kernel holds
0.25 GB), so a section starts computing as soon as its turn comes.
"""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from jupyter_client import KernelManager

from helpers.core.errors import KernelStartError

# what the section notebooks import in their first code cell, executed silently (no
# execution count, no output) before a notebook is sent to the kernel
WARM_UP = (
    "import helpers.run.notebook, helpers.render.charts, helpers.render.tables, "
    "helpers.sections.traffic, helpers.sections.clv, helpers.sections.repurchase, "
    "helpers.sections.marketing"
)


def _start_warm_kernel(
    kernel_name: str, cwd: Path, env: dict[str, str], runtime: Path | None
) -> KernelManager:
    manager = KernelManager(kernel_name=kernel_name)
    if runtime is not None:
        # local sockets instead of TCP ports: two kernels starting at once cannot race for a
        # port ("Address already in use"), and nothing listens on the network; the sockets and
        # the connection file live in the run's folder and go with it
        name = uuid.uuid4().hex[:8]
        manager.transport = "ipc"
        manager.ip = str(runtime / f"k{name}")
        manager.connection_file = str(runtime / f"kernel-{name}.json")
    try:
        manager.start_kernel(cwd=str(cwd), env=env)
    except Exception as exc:  # e.g. NoSuchKernel
        raise KernelStartError(
            f"cannot start the {kernel_name!r} kernel ({exc}); `make setup` registers it"
        ) from exc
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(WARM_UP, silent=True, store_history=False, timeout=120)
        if reply["content"]["status"] != "ok":
            content = reply["content"]
            raise KernelStartError(
                f"the {kernel_name!r} kernel cannot import the helpers: "
                f"{content.get('ename')}: {content.get('evalue')}"
            )
    except BaseException:
        manager.shutdown_kernel(now=True)
        raise
    finally:
        client.stop_channels()
    return manager


class KernelPool:
    """`ready` kernels warming in the background, `total` in all: take() hands out the next
    one (waiting if it is still warming) and, once none is left warming, starts the next
    (one spare at a time after the first `ready`); close() shuts down
    the ones never taken. Kernels run in `cwd` with the `engine` settings added to their
    environment (e.g. ENGINE_THREADS_VARIABLE); with a `runtime` folder (short: it holds Unix
    sockets), they talk over local sockets there and keep their connection files there."""

    def __init__(
        self,
        kernel_name: str,
        cwd: Path,
        engine: dict[str, str],
        ready: int,
        total: int,
        runtime: Path | None = None,
    ):
        self._start = (kernel_name, cwd, {**os.environ, **engine}, runtime)
        self._starter = ThreadPoolExecutor(max_workers=max(1, ready))
        self._lock = threading.Lock()
        self._left = total
        self._warming: list[Future[KernelManager]] = []
        for _ in range(min(ready, total)):
            self._warm_one()

    def _warm_one(self) -> None:
        self._left -= 1
        self._warming.append(self._starter.submit(_start_warm_kernel, *self._start))

    def take(self) -> KernelManager:
        with self._lock:
            if not self._warming:  # more takes than `total`: start one now
                self._left += 1
                self._warm_one()
            future = self._warming.pop(0)
            if self._left > 0 and not self._warming:
                self._warm_one()
        return future.result()

    def close(self) -> None:
        with self._lock:
            warming, self._warming, self._left = self._warming, [], 0
        for future in warming:
            future.cancel()
        self._starter.shutdown(wait=True)
        for future in warming:
            if not future.cancelled() and future.exception() is None:
                future.result().shutdown_kernel(now=True)
