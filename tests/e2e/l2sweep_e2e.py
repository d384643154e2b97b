"""What the end-to-end tests of the built l2sweep binary share (tests/e2e/test_*.py).

Each test module runs the binary as a user would and checks its files, exit codes and
messages. A module runs three ways:

    cd tests/e2e && python3 -m pytest [-k NAME] [--l2sweep BIN] [--data-dir DIR]
    python3 tests/e2e/test_cli.py BIN DATA_DIR [-k NAME]      # what CTest runs
    L2SWEEP_E2E_NO_PYTEST=1 python3 tests/e2e/test_cli.py BIN DATA_DIR

Without --l2sweep / --data-dir, pytest takes $L2SWEEP_BIN and $L2SWEEP_DATA_DIR, else
<repo>/build/bin/l2sweep and <repo>/data/fashion-mnist-mini. Started as a script
(main() below), a module runs under pytest when it can be imported, and otherwise, as on a
GPU machine without pytest, under run_fallback(): the module's test_* functions in
definition order, each with a fresh temporary folder as tmp_path, one line per case, exit 1
if any failed. L2SWEEP_E2E_NO_PYTEST=1 (any value but empty or 0) forces the fallback where
pytest is installed. In the fallback, -k takes one plain substring of the test name.

Checks are soft, as in the scripts these modules replaced: check(condition, message) prints
FAIL and lets the case go on, and the case fails at its end if any check did (conftest.py's
report hook under pytest, run_fallback otherwise). Module-wide setup (a reference sweep)
is a @fixture; a fixture that fails raises, failing every case that uses it.

Standard library only; pytest is optional.
"""
import csv
import hashlib
import inspect
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS_DIR)
KERAS_FIXTURES = os.path.join(TESTS_DIR, "fixtures", "keras")
DEFAULT_BINARY = os.path.join(REPO, "build", "bin", "l2sweep")
DEFAULT_DATA_DIR = os.path.join(REPO, "data", "fashion-mnist-mini")
# Where CMake builds tests/support/failing_close.cpp, relative to the binary's bin/ folder.
FAILING_CLOSE_LIBRARY = os.path.join("tests", "libl2sweep_failing_close.so")


def binary_path(given=None):
    """The l2sweep binary: `given`, else $L2SWEEP_BIN, else the default build's; absolute."""
    return os.path.abspath(given or os.environ.get("L2SWEEP_BIN") or DEFAULT_BINARY)


def data_dir_path(given=None):
    """The Fashion-MNIST folder: `given`, else $L2SWEEP_DATA_DIR, else the mini fixture."""
    return os.path.abspath(given or os.environ.get("L2SWEEP_DATA_DIR") or DEFAULT_DATA_DIR)


# --- skips, soft checks, hard requirements ------------------------------------------------

class Skipped(Exception):
    """A case skipped for want of a tool (the fallback's pytest.skip)."""


def skip(reason):
    """Skip the running case: pytest's skip under pytest, Skipped under run_fallback."""
    pytest = sys.modules.get("pytest")
    if pytest is not None:
        pytest.skip(reason)
    raise Skipped(reason)


def require_strace():
    if shutil.which("strace") is None:
        skip("strace is not installed")


def failing_close_library(binary):
    """The LD_PRELOAD library that fails close() (tests/support/failing_close.cpp):
    $L2SWEEP_FAILING_CLOSE_LIBRARY as given (CTest sets it), else the one built beside
    `binary`; skips the case where there is neither."""
    library = os.environ.get("L2SWEEP_FAILING_CLOSE_LIBRARY")
    if library:
        return library
    built = os.path.join(os.path.dirname(os.path.dirname(binary)), FAILING_CLOSE_LIBRARY)
    if os.path.exists(built):
        return built
    skip(f"L2SWEEP_FAILING_CLOSE_LIBRARY is not set and {built} does not exist: "
         "event files were not tried")


class Checks:
    """Soft assertions: a failed check is printed at once and the case goes on."""

    def __init__(self):
        self.failures = []

    def __call__(self, condition, message):
        if not condition:
            self.failures.append(message)
            print("FAIL:", message, flush=True)
        return bool(condition)

    def summary(self):
        return f"{len(self.failures)} check(s) failed:\n" + "\n".join(
            f"FAIL: {message}" for message in self.failures)


def require(condition, message):
    """A hard assertion (not removed by python -O), for setup the cases cannot do without."""
    if not condition:
        raise AssertionError(message)


def fixture(function):
    """A module-scoped fixture: pytest's under pytest; under run_fallback, computed once per
    module when a case first names it as a parameter (as pytest does)."""
    pytest = sys.modules.get("pytest")
    if pytest is not None:
        return pytest.fixture(scope="module")(function)
    function.l2sweep_e2e_fixture = True
    return function


# --- running the binary -------------------------------------------------------------------

def run(binary, args, **kwargs):
    """`binary args`, its output captured as text, killed after 5 minutes."""
    return subprocess.run([binary] + list(args), capture_output=True, text=True, timeout=300,
                          **kwargs)


def reference_sweep(binary, args, tmp_path_factory):
    """An uninterrupted sweep of `args` in a folder of its own: the numbers every broken,
    killed or resumed one must end with."""
    out = os.path.join(str(tmp_path_factory.mktemp("reference")), "reference")
    result = run(binary, args + ["--out", out])
    require(result.returncode == 0, f"reference sweep failed: {result.returncode} {result.stderr}")
    return out


def wait_for(predicate, seconds=60, interval=0.02):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def metrics_line_count(out):
    """Lines in out/metrics.csv, its header included (0 while there is none)."""
    path = os.path.join(out, "metrics.csv")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for _ in f)


def wait_for_rows(out, count, limit=60):
    """Until out/metrics.csv holds `count` rows below its header, or `limit` seconds."""
    return wait_for(lambda: metrics_line_count(out) - 1 >= count, limit, interval=0.01)


# --- reading a sweep's files --------------------------------------------------------------

def read_metrics(out):
    """metrics.csv: its header and its rows as dicts of strings, in file order."""
    with open(os.path.join(out, "metrics.csv"), newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    return reader.fieldnames, rows


def metrics_rows(out, leave_out=(), ordered=False):
    """metrics.csv rows as tuples of (column, text), the columns in `leave_out` (timings)
    left out; sorted unless `ordered`, which keeps the file's order."""
    rows = [tuple((k, v) for k, v in row.items() if k not in leave_out)
            for row in read_metrics(out)[1]]
    return rows if ordered else sorted(rows)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def read_summary(out):
    return read_json(os.path.join(out, "summary.json"))


def summary_runs(out, leave_out=()):
    """summary.json and its runs, the keys in `leave_out` (timings) left out of each run."""
    summary = read_summary(out)
    return summary, [{k: v for k, v in r.items() if k not in leave_out} for r in summary["runs"]]


def read_text(path):
    with open(path) as f:
        return f.read()


def snapshot(folder, skip_prefix=None):
    """Every file below `folder` (hidden ones too, unless their name starts with
    `skip_prefix`) by its path relative to `folder`: the SHA-256 of its bytes."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            if skip_prefix and name.startswith(skip_prefix):
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return files


def changed_files(before, after):
    """The relative paths whose hash differs between two snapshots, or that only one has."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def one_error_line(result, code, *parts):
    """The run exited `code` with one 'error: ...' line on stderr containing every part."""
    lines = result.stderr.strip().splitlines()
    ok = (result.returncode == code and len(lines) == 1 and lines[0].startswith("error: ")
          and all(part in lines[0] for part in parts))
    return ok, f"exit {result.returncode}, stderr {result.stderr.strip()!r}"


def expect_error(check, result, code, label, *parts):
    ok, what = one_error_line(result, code, *parts)
    check(ok, f"{label}: expected exit {code} and one error line with {parts}; got {what}")


# --- running a module ---------------------------------------------------------------------

def main(module_globals):
    """A test module's __main__: `MODULE BIN DATA_DIR [-k NAME]` under pytest when it can be
    imported (and L2SWEEP_E2E_NO_PYTEST does not say otherwise), else under run_fallback."""
    args = sys.argv[1:]
    if len(args) < 2 or args[0].startswith("-") or args[1].startswith("-"):
        print(f"usage: {sys.argv[0]} L2SWEEP_BINARY DATA_DIR [-k NAME]", file=sys.stderr)
        return 2
    binary, data_dir, extra = binary_path(args[0]), data_dir_path(args[1]), args[2:]
    pytest = None
    if os.environ.get("L2SWEEP_E2E_NO_PYTEST", "") in ("", "0"):
        try:
            import pytest
        except ImportError:
            pytest = None
    if pytest is None:
        return run_fallback(module_globals, binary, data_dir, extra)
    # pytest's temporary folders in one folder of our own, removed afterwards as the scripts
    # did; no .pytest_cache in the source tree.
    with tempfile.TemporaryDirectory(prefix="l2sweep-e2e-") as tmp:
        return int(pytest.main([module_globals["__file__"], "-p", "no:cacheprovider", "-v",
                                "-rfEs", "--durations=0", "--basetemp",
                                os.path.join(tmp, "basetemp"), "--l2sweep", binary,
                                "--data-dir", data_dir] + extra))


class TmpPathFactory:
    """pytest's tmp_path_factory, as far as these modules use it."""

    def __init__(self, root):
        self.root = root
        self.count = 0

    def mktemp(self, name):
        self.count += 1
        path = pathlib.Path(self.root) / f"{name}{self.count}"
        path.mkdir()
        return path


def skip_exceptions():
    pytest = sys.modules.get("pytest")
    return (Skipped, pytest.skip.Exception) if pytest is not None else (Skipped,)


def run_fallback(module_globals, binary, data_dir, extra):
    """The module's test_* functions in definition order without pytest: fixtures by
    parameter name (l2sweep, data_dir, tmp_path, tmp_path_factory, check and the module's
    @fixture functions), one line per case, exit 1 if any case failed."""
    selected = None
    if extra[:1] == ["-k"] and len(extra) == 2:
        selected = extra[1]
    elif extra:
        print(f"without pytest only '-k SUBSTRING' is understood, not {extra}", file=sys.stderr)
        return 2
    tests = [(name, value) for name, value in module_globals.items()
             if name.startswith("test_") and inspect.isfunction(value)
             and (selected is None or selected in name)]
    fixtures = {name: value for name, value in module_globals.items()
                if getattr(value, "l2sweep_e2e_fixture", False)}
    name_of_module = os.path.basename(module_globals["__file__"])
    print(f"{name_of_module}: {len(tests)} case(s) without pytest; l2sweep {binary}, "
          f"data {data_dir}", flush=True)
    if not tests:
        return 5  # as pytest: nothing collected
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    with tempfile.TemporaryDirectory(prefix="l2sweep-e2e-") as root:
        factory = TmpPathFactory(root)
        module_values = {"l2sweep": binary, "data_dir": data_dir, "tmp_path_factory": factory}
        computed = {}  # fixture name: (True, value) or (False, the exception it raised)

        def value(name, per_case):
            if per_case is not None and name in per_case:
                return per_case[name]
            if name in module_values:
                return module_values[name]
            if name not in fixtures:
                raise LookupError(f"fixture {name!r} not found (module fixtures cannot use "
                                  "tmp_path or check)")
            if name not in computed:
                try:
                    computed[name] = (True, call(fixtures[name], None))
                except BaseException as error:  # noqa: B036 -- cached and raised again below
                    computed[name] = (False, error)
            ok, result = computed[name]
            if not ok:
                raise result
            return result

        def call(function, per_case):
            params = inspect.signature(function).parameters
            return function(**{p: value(p, per_case) for p in params})

        for name, test in tests:
            check = Checks()
            per_case = {"tmp_path": factory.mktemp(name), "check": check}
            started = time.time()
            reason = ""
            try:
                call(test, per_case)
                outcome = "failed" if check.failures else "passed"
                if check.failures:
                    reason = "\n" + check.summary()
            except skip_exceptions() as skipped:
                outcome, reason = "skipped", f": {skipped}"
            except Exception:  # a crash fails this case; the next one still runs
                traceback.print_exc(file=sys.stdout)
                outcome = "failed"
                if check.failures:
                    reason = "\n" + check.summary()
            counts[outcome] += 1
            label = {"passed": "PASSED", "failed": "FAILED", "skipped": "SKIPPED"}[outcome]
            print(f"{label} {name_of_module}::{name} ({time.time() - started:.1f} s){reason}",
                  flush=True)
    print(", ".join(f"{n} {what}" for what, n in counts.items()), flush=True)
    return 1 if counts["failed"] else 0
