"""pytest's side of the end-to-end tests: the options and fixtures l2sweep_e2e.py describes.

    cd tests/e2e && python3 -m pytest -k NAME [--l2sweep BIN] [--data-dir DIR]
"""
import pytest

import l2sweep_e2e as e2e


def pytest_addoption(parser):
    group = parser.getgroup("l2sweep", "l2sweep end-to-end tests")
    group.addoption("--l2sweep", metavar="PATH", default=None,
                    help="the l2sweep binary (default: $L2SWEEP_BIN, else "
                         "<repo>/build/bin/l2sweep)")
    group.addoption("--data-dir", metavar="PATH", default=None,
                    help="the Fashion-MNIST folder (default: $L2SWEEP_DATA_DIR, else "
                         "<repo>/data/fashion-mnist-mini)")


def option(config, name):
    # Where this conftest.py is not loaded at startup (`cd tests && pytest`), its options
    # are added after the command line was read: their defaults apply.
    return config.getoption(name, default=None)


@pytest.fixture(scope="session")
def l2sweep(request):
    """The l2sweep binary, an absolute path."""
    return e2e.binary_path(option(request.config, "l2sweep"))


@pytest.fixture(scope="session")
def data_dir(request):
    """The Fashion-MNIST folder the sweeps read, an absolute path."""
    return e2e.data_dir_path(option(request.config, "data_dir"))


@pytest.fixture
def check(request):
    """Soft assertions (l2sweep_e2e.Checks); the report hook below fails the case if any
    of them failed."""
    checks = e2e.Checks()
    request.node.l2sweep_checks = checks
    return checks


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    checks = getattr(item, "l2sweep_checks", None)
    if report.when != "call" or checks is None or not checks.failures:
        return
    if report.passed:
        report.outcome = "failed"
        report.longrepr = checks.summary()
    else:
        report.sections.append(("failed checks", checks.summary()))
