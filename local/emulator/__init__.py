"""Local Azure AI Document Intelligence emulator (see README.md beside this file)."""

from .cli import main
from .errors import DIError
from .network import EmulatorNetwork, RouterTransport
from .server import EmulatorApp, create_app
from .state import EmulatorState

__all__ = [
    "DIError",
    "EmulatorApp",
    "EmulatorNetwork",
    "EmulatorState",
    "RouterTransport",
    "create_app",
    "main",
]
