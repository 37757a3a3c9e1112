# nbv notebook driver: embedded in the nbv-runner binary and run by the image's own Python.
#
# Input: one JSON object on stdin (see internal/runner/execute.driverConfig).
# Output: one JSON object per line on the file descriptor named by "events_fd" (never stdout,
# which libraries may print to). Events: start, cell_start, cell, probe, fatal, done.
# The executed notebook is written to "output" whatever happens after the kernel started.
#
# Conventions of the notebook-testing tools, decided by the Go side and passed in "cells"
# (per code cell: skip, allow_error, after) and "allow_errors" (the whole notebook):
#   - a skipped cell is not run (nbval-skip, skip-execution);
#   - an allowed error does not fail the cell (raises-exception, nbmake's allow_errors);
#   - "after" snippets (nbmake's mock and post_cell_execute) run once the cell succeeded and
#     fail the cell when they raise;
#   - papermill: SystemExit with no code, None or 0 ends the notebook early as a success.
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


# papermill's rule: SystemExit whose value prints as "", "0" (or "None") is a clean exit.
CLEAN_EXIT_VALUES = ("", "0", "None")

def clean_exit(ename, evalue):
    return ename == "SystemExit" and (evalue or "") in CLEAN_EXIT_VALUES


def early_exit(i, evalue):
    """The cell event's fields and the later cells' skip reason for a clean exit in cell i."""
    return ({"status": "success", "exited": True, "evalue": evalue or ""},
            "the notebook exited early in cell %d (SystemExit%s)"
            % (i, "(%s)" % evalue if evalue else ""))


# Packages that provide the kernel of a notebook language, for the hint when it is missing.
KERNEL_PACKAGES = {
    "julia": "IJulia (in Julia: using Pkg; Pkg.add(\"IJulia\"))",
    "r": "IRkernel (in R: install.packages(\"IRkernel\"); IRkernel::installspec())",
    "scala": "almond",
    "javascript": "IJavascript or tslab",
    "typescript": "tslab",
    "c++": "xeus-cling",
    "bash": "bash_kernel",
    "go": "gonb",
    "rust": "evcxr_jupyter",
}


def kernel_hint(kernel, metadata, overridden):
    """What to install for a missing kernel: ipykernel only when the kernel is Python's."""
    spec = metadata.get("kernelspec") or {}
    # The notebook's own language says nothing about a kernel named on the command line.
    language = "" if overridden else (spec.get("language") or
                                      (metadata.get("language_info") or {}).get("name") or "")
    language = str(language).lower()
    name = kernel.lower()
    if not language:
        # Only names that cannot mean anything else: python3, julia-1.10, ir (IRkernel's).
        language = ("python" if name.startswith("python") else
                    "julia" if name.startswith("julia") else "r" if name == "ir" else "")
    if language == "python":
        return ("install ipykernel (Debian: python3-ipykernel; pip: ipykernel) or pass a "
                "kernel name")
    what = "the %s kernel" % language if language else "a kernel"
    named = spec.get("display_name") if not overridden else None
    return ("install %s named %r%s so that `jupyter kernelspec list` shows it%s, or pass "
            "another kernel name" % (what, kernel, " (%s)" % named if named else "",
                                     " (%s)" % KERNEL_PACKAGES[language]
                                     if language in KERNEL_PACKAGES else ""))


def first_error(cell):
    for out in cell.outputs:
        if out.get("output_type") == "error":
            return out
    return None


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
    plans = {int(k): v for k, v in (cfg.get("cells") or {}).items()}
    notebook_allows = cfg.get("allow_errors") or ""
    t0 = time.monotonic()
    try:
        ctx = client.setup_kernel()
        ctx.__enter__()
    except NoSuchKernel:
        try:
            have = sorted(KernelSpecManager().find_kernel_specs())
        except Exception:
            have = []
        fatal("KernelMissing", "no Jupyter kernel named %r for %s (installed kernels: %s); %s"
              % (kernel, sys.executable, ", ".join(have) or "none",
                 kernel_hint(kernel, nb.metadata, bool(cfg.get("kernel")))))
    except Exception as e:
        fatal("KernelMissing", "kernel %r did not start: %s: %s" % (kernel, type(e).__name__, e))
    emit({"event": "start", "cells": len(nb.cells), "codeCells": code_cells, "kernel": kernel,
          "python": sys.version.split()[0], "nbclient": nbclient_version,
          "startupMs": int((time.monotonic() - t0) * 1000)})

    def run(cell, i, store_history=True):
        """Runs one cell; returns the cell event's status fields and why later cells stop."""
        try:
            client.execute_cell(cell, i, store_history=store_history)
        except CellTimeoutError:
            # A busy kernel never answers a graceful shutdown request.
            client.shutdown_kernel = "immediate"
            return ({"status": "timeout", "ename": "CellTimeoutError",
                     "evalue": "cell %d did not finish within %ss" % (i, cfg.get("timeout"))},
                    "cell %d timed out" % i)
        except DeadKernelError as e:
            client.shutdown_kernel = "immediate"
            return ({"status": "failure", "ename": "DeadKernelError",
                     "evalue": "kernel died while running cell %d: %s" % (i, e)},
                    "kernel died in cell %d" % i)
        except CellExecutionError as e:
            if clean_exit(e.ename, e.evalue):
                return early_exit(i, e.evalue)
            ev = {"status": "failure", "ename": e.ename, "evalue": e.evalue}
            err = first_error(cell)
            if err is not None:
                ev["traceback"] = list(err.traceback)
            return ev, "cell %d failed" % i
        return {"status": "success"}, None

    stopped = None  # why later cells are skipped
    try:
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            plan = plans.get(i, {})
            if stopped is not None or plan.get("skip"):
                emit({"event": "cell", "index": i, "status": "skipped", "ms": 0,
                      "reason": stopped or "marked " + plan["skip"]})
                continue
            emit({"event": "cell_start", "index": i})
            c0 = time.monotonic()
            allowed_by = plan.get("allow_error") or notebook_allows
            client.allow_errors = bool(allowed_by)
            result, stopped = run(cell, i)
            ev = {"event": "cell", "index": i}
            ev.update(result)
            err = first_error(cell)
            if ev.get("exited"):
                pass  # later cells are skipped: stopped says why
            elif ev["status"] == "success" and err is not None:
                if clean_exit(err.ename, err.evalue):
                    # An allowed clean exit still ends the notebook, as under papermill.
                    result, stopped = early_exit(i, err.evalue)
                    ev.update(result)
                elif allowed_by:
                    ev["allowed"] = {"ename": err.ename, "evalue": err.evalue, "by": allowed_by}
                else:
                    # The kernel answered "ok" but the cell shows an error (matplotlib's
                    # inline backend reports a figure that fails to draw after the cell ran):
                    # nbmake and nbval fail such a cell, and so do we.
                    ev.update({"status": "failure", "ename": err.ename, "evalue": err.evalue,
                               "traceback": list(err.get("traceback") or [])})
                    stopped = "cell %d failed" % i
            elif ev["status"] == "success":
                for snippet in plan.get("after") or []:
                    failed = run_after(run, nbformat, nb, cell, i, snippet)
                    if failed is not None:
                        ev.update(failed[0])
                        stopped = failed[1]
                        break
            ev["ms"] = int((time.monotonic() - c0) * 1000)
            emit(ev)
            if ev["status"] == "success" and i in probes and cell.execution_count:
                emit(probe(client, nbformat, nb, i, cell.execution_count))
    finally:
        total = int((time.monotonic() - t0) * 1000)
        write_notebook(nbformat, nb, cfg["output"])
        try:
            ctx.__exit__(None, None, None)
        except Exception as e:
            print("nbv driver: kernel shutdown: %s" % e, file=sys.stderr)
    emit({"event": "done", "ms": total})


def aside(nb, index, fn):
    # nbclient stores the cell it ran at nb.cells[index]: code run on the notebook's behalf
    # must not take the place of the notebook's own cell.
    own = nb.cells[index]
    try:
        return fn()
    finally:
        nb.cells[index] = own


def run_after(run, nbformat, nb, cell, index, snippet):
    """Runs nbmake's mock or post_cell_execute code after cell; None when it succeeded, else
    the failing cell event's fields (the error also added to the cell's outputs) and why."""
    extra = nbformat.v4.new_code_cell(snippet["code"])
    result, stopped = aside(nb, index, lambda: run(extra, index, store_history=False))
    if result["status"] == "success" and not result.get("exited"):
        return None
    err = first_error(extra)
    if err is not None:
        cell.outputs.append(err)
    if result["status"] == "success":
        # Even a clean exit is a failure here: nbmake requires the snippet to succeed.
        result = {"status": "failure", "ename": "SystemExit", "evalue": result.get("evalue", "")}
    if result["status"] == "failure" and result.get("ename") != "DeadKernelError":
        stopped = "cell %d failed in %s" % (index, snippet["from"])
    result["from"] = snippet["from"]
    return result, stopped


def probe(client, nbformat, nb, index, count):
    # Evaluate the cell's result object in the kernel without touching the user namespace
    # or the execution count, so checks can use its real Python type, shape and value.
    code = "exec(compile(%r, '<nbv-probe>', 'exec'), {'Out': Out, 'n': %d})" % (PROBE_SRC, count)
    cell = nbformat.v4.new_code_cell(code)
    ev = {"event": "probe", "index": index}
    try:
        aside(nb, index, lambda: client.execute_cell(cell, index, store_history=False))
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
