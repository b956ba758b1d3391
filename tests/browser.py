"""Headless Chromium for the browser tests, driven with Selenium through ChromeDriver.

Chromium and ChromeDriver are Debian's packages (``chromium``, ``chromium-driver``, one version by
construction). When they are missing, `ensure_chromium` installs them with apt-get, non-interactively
(as root, or through ``sudo -n``), running ``apt-get update`` first only if the plain install fails,
as a fresh machine's package lists may be empty or out of date. Elsewhere, point
``DR_TEST_CHROMIUM`` and ``DR_TEST_CHROMEDRIVER`` at a Chromium and a ChromeDriver of one version. If
neither works the tests fail, naming what to do: they never skip.

Selenium Manager (which would download a driver) is never used: the driver's path is always given.
Chromium runs with the flags that keep it off the network (no background networking, component
updates, sync or QUIC) and with a new profile per test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parent.parent
#: Screenshots and other files a person may want to look at after a run (git-ignored).
OUTPUT = ROOT / "test-output"
CHROMIUM = Path(os.environ.get("DR_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("DR_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
#: DejaVu: text in screenshots on a machine with no font yet.
PACKAGES = ("chromium", "chromium-driver", "fonts-dejavu-core")
APT_TIMEOUT = 1200


def _installed() -> bool:
    return CHROMIUM.is_file() and CHROMEDRIVER.is_file()


def _apt(prefix: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [*prefix, "apt-get", "-o", "DPkg::Lock::Timeout=600", "-q", *args]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=APT_TIMEOUT, env=env, stdin=subprocess.DEVNULL
    )


def ensure_chromium() -> None:
    """Chromium and ChromeDriver are there, installed from Debian's packages if they were not."""
    if _installed():
        return
    if shutil.which("apt-get") is None:
        pytest.fail(
            f"no Chromium at {CHROMIUM} or no ChromeDriver at {CHROMEDRIVER}, and no apt-get to install "
            "them: set DR_TEST_CHROMIUM and DR_TEST_CHROMEDRIVER to a Chromium and its ChromeDriver"
        )
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo"):
        prefix = ["sudo", "-n"]
    else:
        pytest.fail(f"installing {' '.join(PACKAGES)} needs root or sudo; install them and run again")
    install = ("install", "-y", "--no-install-recommends", *PACKAGES)
    done = _apt(prefix, *install)
    if done.returncode != 0:
        update = _apt(prefix, "update")
        done = _apt(prefix, *install) if update.returncode == 0 else update
    if done.returncode != 0 or not _installed():
        output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        pytest.fail(f"could not install {' '.join(PACKAGES)} with apt-get:\n{output}")


def start_chromium(profile: Path, width: int = 1400, height: int = 1000) -> webdriver.Chrome:
    """A headless Chromium with a new profile, and its ChromeDriver (logging to the profile's folder)."""
    profile.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    arguments = [
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--lang=en-US",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ]
    if os.geteuid() == 0:
        arguments.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
    for argument in arguments:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(profile.parent / "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)
