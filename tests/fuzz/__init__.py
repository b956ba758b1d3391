"""Fuzzing at volume: generated input on every HTTP route, queue and Event Grid schema of
function_app.py, against Azurite and emulator processes. `make test` runs a quick, deterministic
version (a few hundred inputs); `pytest -m fuzz` runs at least 10,000."""
