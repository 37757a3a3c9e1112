# nbv notebook driver: embedded in the nbv-runner binary and run by the image's own Python.
#
# Input: one JSON object on stdin (see internal/runner/execute.driverConfig).
# Output: one JSON object per line on the file descriptor named by "events_fd" (never stdout,
# which libraries may print to). Events: start, cell_start, cell, probe, fatal, done.
# The executed notebook is written to "output" whatever happens after the kernel started.
import sys

# With -c, sys.path starts with the current directory; a repository file named like a
# standard module (json.py, time.py) must not replace it here.
sys.path[:] = [p for p in sys.path if p not in ("", ".")]

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

EVENTS = None


def emit(obj):
    # ensure_ascii keeps each event one ASCII line even for lone surrogates or odd bytes.
    EVENTS.write(json.dumps(obj, ensure_ascii=True) + "\n")
    EVENTS.flush()


def fatal(reason, message):
    emit({"event": "fatal", "reason": reason, "message": message})
    sys.exit(3)


PROBE_SRC = r'''
import json, math
r = {"has": n in Out}
if r["has"]:
    v = Out[n]
    t = type(v)
    r["type"] = t.__name__
    r["qualtype"] = t.__module__ + "." + t.__qualname__
    try:
        r["shape"] = [int(x) for x in v.shape]
    except Exception:
        try:
            r["shape"] = [len(v)]
        except Exception:
            pass
    try:
        r["len"] = len(v)
    except Exception:
        pass
    if not isinstance(v, (str, bytes)):
        try:
            f = float(v)
            r["number"] = f if math.isfinite(f) else str(f)
        except Exception:
            pass
print("NBVPROBE" + json.dumps(r))
'''


def main():
    global EVENTS
    cfg = json.load(sys.stdin)
    EVENTS = os.fdopen(int(cfg["events_fd"]), "w", buffering=1, encoding="ascii")
    try:
        import nbformat
        from nbclient import NotebookClient, __version__ as nbclient_version
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    except ImportError as e:
        fatal("PythonMissing", "%s cannot import %s (%s); install nbclient and nbformat "
              "(Debian: python3-nbclient python3-nbformat; pip: nbclient nbformat)"
              % (sys.executable, getattr(e, "name", None) or "a module", e))
    try:
        from jupyter_client.kernelspec import NoSuchKernel, KernelSpecManager
    except ImportError as e:
        fatal("PythonMissing", "%s cannot import jupyter_client (%s)" % (sys.executable, e))

    nb = nbformat.read(cfg["input"], as_version=4)
    kernel = cfg.get("kernel") or nb.metadata.get("kernelspec", {}).get("name") or "python3"
    # A skipped cell must not show the outputs of a previous run.
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None

    client = NotebookClient(
        nb,
        timeout=cfg.get("timeout") or None,
        kernel_name=kernel,
        startup_timeout=cfg.get("startup_timeout") or 60,
        resources={"metadata": {"path": cfg["cwd"]}},
        extra_arguments=["--InteractiveShell.colors=NoColor"],
        record_timing=True,
    )
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
    probes = set(cfg.get("probe_cells") or [])
    t0 = time.monotonic()
    try:
        ctx = client.setup_kernel()
        ctx.__enter__()
    except NoSuchKernel:
        try:
            have = sorted(KernelSpecManager().find_kernel_specs())
        except Exception:
            have = []
        fatal("KernelMissing", "no Jupyter kernel named %r for %s (installed kernels: %s); "
              "install ipykernel (Debian: python3-ipykernel) or pass a kernel name"
              % (kernel, sys.executable, ", ".join(have) or "none"))
    except Exception as e:
        fatal("KernelMissing", "kernel %r did not start: %s: %s" % (kernel, type(e).__name__, e))
    emit({"event": "start", "cells": len(nb.cells), "codeCells": code_cells, "kernel": kernel,
          "python": sys.version.split()[0], "nbclient": nbclient_version,
          "startupMs": int((time.monotonic() - t0) * 1000)})

    stopped = None  # why later cells are skipped
    try:
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if stopped is not None:
                emit({"event": "cell", "index": i, "status": "skipped", "ms": 0,
                      "reason": stopped})
                continue
            emit({"event": "cell_start", "index": i})
            c0 = time.monotonic()
            ev = {"event": "cell", "index": i, "status": "success"}
            try:
                client.execute_cell(cell, i)
            except CellTimeoutError:
                ev["status"] = "timeout"
                ev["ename"] = "CellTimeoutError"
                ev["evalue"] = "cell %d did not finish within %ss" % (i, cfg.get("timeout"))
                stopped = "cell %d timed out" % i
                # A busy kernel never answers a graceful shutdown request.
                client.shutdown_kernel = "immediate"
            except DeadKernelError as e:
                ev["status"] = "failure"
                ev["ename"] = "DeadKernelError"
                ev["evalue"] = "kernel died while running cell %d: %s" % (i, e)
                stopped = "kernel died in cell %d" % i
                client.shutdown_kernel = "immediate"
            except CellExecutionError as e:
                ev["status"] = "failure"
                ev["ename"] = e.ename
                ev["evalue"] = e.evalue
                for out in cell.outputs:
                    if out.output_type == "error":
                        ev["traceback"] = list(out.traceback)
                stopped = "cell %d failed" % i
            ev["ms"] = int((time.monotonic() - c0) * 1000)
            emit(ev)
            if ev["status"] == "success" and i in probes and cell.execution_count:
                emit(probe(client, nbformat, i, cell.execution_count))
    finally:
        total = int((time.monotonic() - t0) * 1000)
        write_notebook(nbformat, nb, cfg["output"])
        try:
            ctx.__exit__(None, None, None)
        except Exception as e:
            print("nbv driver: kernel shutdown: %s" % e, file=sys.stderr)
    emit({"event": "done", "ms": total})


def probe(client, nbformat, index, count):
    # Evaluate the cell's result object in the kernel without touching the user namespace
    # or the execution count, so checks can use its real Python type, shape and value.
    code = "exec(compile(%r, '<nbv-probe>', 'exec'), {'Out': Out, 'n': %d})" % (PROBE_SRC, count)
    cell = nbformat.v4.new_code_cell(code)
    ev = {"event": "probe", "index": index}
    try:
        client.execute_cell(cell, index, store_history=False)
    except Exception as e:
        ev["error"] = "%s: %s" % (type(e).__name__, e)
        return ev
    for out in cell.outputs:
        text = out.get("text", "")
        if out.get("name") == "stdout" and "NBVPROBE" in text:
            ev["values"] = json.loads(text.split("NBVPROBE", 1)[1])
    return ev


def write_notebook(nbformat, nb, path):
    try:
        nbformat.write(nb, path)
    except UnicodeEncodeError:
        # Outputs may hold lone surrogates (bytes that were not UTF-8); keep a valid file.
        with open(path, "w", encoding="utf-8", errors="backslashreplace") as f:
            nbformat.write(nb, f)


if __name__ == "__main__":
    main()
