"""Interim demo: copy one model between two local Document Intelligence emulators with plain HTTP.

Run ``python -m local.demo``. Exits non-zero on any failure. (To be replaced by the full demo.)
"""

from __future__ import annotations

import sys
import time

import httpx

from local.emulator.process import run_emulator_process

API = "2024-11-30"
PREFIX = "/documentintelligence"


def demo() -> None:
    seed = {
        "models": [
            {"modelId": "invoices-v1", "description": "Invoice extraction", "tags": {"owner": "finance"}}
        ]
    }
    with (
        run_emulator_process("southcentralus", "demo-source-key", seed=seed, copy_duration=1.0) as src,
        run_emulator_process("westus2", "demo-target-key", copy_duration=1.0) as dst,
    ):
        print(f"source  {src.region:15} {src.endpoint}")
        print(f"target  {dst.region:15} {dst.endpoint}")
        s = httpx.Client(base_url=src.endpoint, headers={"Ocp-Apim-Subscription-Key": src.key}, timeout=10)
        t = httpx.Client(base_url=dst.endpoint, headers={"Ocp-Apim-Subscription-Key": dst.key}, timeout=10)
        q = {"api-version": API}
        # 1. authorize at the target
        r = t.post(
            f"{PREFIX}/documentModels:authorizeCopy",
            params=q,
            json={"modelId": "invoices-v1", "description": "Invoice extraction (DR copy)"},
        )
        r.raise_for_status()
        auth = r.json()
        print(f"1. authorized at target: {auth['targetModelId']} (expires {auth['expirationDateTime']})")
        # 2. start the copy at the source
        r = s.post(f"{PREFIX}/documentModels/invoices-v1:copyTo", params=q, json=auth)
        if r.status_code != 202:
            raise RuntimeError(f"copyTo answered {r.status_code}: {r.text}")
        op_url = r.headers["Operation-Location"]
        print(f"2. copy started: {op_url}")
        # 3. poll the operation
        deadline = time.monotonic() + 30
        while True:
            r = s.get(op_url)
            r.raise_for_status()
            op = r.json()
            print(f"3. operation {op['status']:10} {op.get('percentCompleted', 0):3}%")
            if op["status"] in ("succeeded", "failed"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("copy did not finish in 30 s")
            time.sleep(min(float(r.headers.get("Retry-After", "1")), 0.5))
        if op["status"] != "succeeded":
            raise RuntimeError(f"copy failed: {op.get('error')}")
        # verify at the target
        r = t.get(f"{PREFIX}/documentModels/invoices-v1", params=q)
        r.raise_for_status()
        model = r.json()
        if model.get("description") != "Invoice extraction (DR copy)":
            raise RuntimeError(f"unexpected target model: {model}")
        print(f"verified at target ({dst.region}): {model['modelId']} created {model['createdDateTime']}")
        s.close()
        t.close()


def main() -> int:
    try:
        demo()
    except Exception as e:  # any failure -> non-zero exit with a readable reason
        print(f"demo FAILED: {e}", file=sys.stderr)
        return 1
    print("demo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
