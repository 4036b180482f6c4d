#!/usr/bin/env python3
"""scripts/chaos-check on histories made by hand: a clean one holds, and
each kind of violation fails its check with a counterexample that names it.

  tests/chaos/checker_test.py        (ctest: chaos/checker)
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKER = os.path.join(ROOT, "scripts", "chaos-check")
T0 = 1_800_000_000_000.0


def kv(op, key, start, outcome="ok", value=None, version=None, found=None):
    record = {"t": "kv", "c": "c0", "ns": "kv_lite", "k": key, "op": op, "start": T0 + start,
              "end": T0 + start + 5, "outcome": outcome,
              "code": {"ok": "OK", "unknown": "UNAVAILABLE", "fail": "RESOURCE_EXHAUSTED"}[outcome]}
    if value is not None:
        record["v"] = value
    if version is not None:
        record["ver"] = version
    if found is not None:
        record["found"] = found
    return record


def final(key, value):
    record = {"t": "final", "c": "c0", "ns": "kv_lite", "k": key, "start": T0 + 9000,
              "end": T0 + 9005, "outcome": "ok", "code": "OK", "found": value is not None}
    if value is not None:
        record["v"] = value
        record["ver"] = 1
    return record


def pub(payload, start, outcome="ok"):
    return {"t": "pub", "c": "c0", "ns": "events", "topic": "chaos", "payload": payload,
            "start": T0 + start, "end": T0 + start + 5, "outcome": outcome,
            "code": "OK" if outcome == "ok" else "UNAVAILABLE"}


def recv(payload, at):
    return {"t": "recv", "c": "s0", "sub": "chaos-durable", "at": T0 + at, "payload": payload,
            "id": "x"}


FAULT = {"kind": "gateway_kill", "down_s": 1, "at_s": 1, "start": T0 + 1000, "heal": T0 + 2000}


def clean_history():
    """Key a: set v1 (ok), set v2 (unknown), get v2, set v3 (ok), final v3.
    Key b: set w1 (ok), delete (ok), get absent, final absent. Publishes p1
    (ok) and p2 (unknown), p1 delivered twice. Every lane has a success
    after the fault's heal."""
    return [
        kv("set", "a", 0, value="v1", version=1),
        kv("set", "a", 1000, outcome="unknown", value="v2"),
        kv("get", "a", 2100, value="v2", version=2, found=True),
        kv("set", "a", 2200, value="v3", version=3),
        kv("set", "b", 100, value="w1", version=1),
        kv("delete", "b", 2300),
        kv("get", "b", 2400, found=False),
        {**kv("get", "b", 2500, found=False), "ns": "kv_pg", "k": "pg"},
        pub("p1", 2600), pub("p2", 1500, outcome="unknown"),
        recv("p1", 2700), recv("p1", 2800),
        final("a", "v3"), final("b", None), {**final("pg", None), "ns": "kv_pg"},
    ]


class CheckerTest(unittest.TestCase):
    def run_checker(self, records, faults=(FAULT,), gateway_exit=0):
        temp = tempfile.TemporaryDirectory(prefix="chaos-check-test.")
        self.addCleanup(temp.cleanup)
        directory = temp.name
        os.makedirs(os.path.join(directory, "history"))
        with open(os.path.join(directory, "history", "c0.jsonl"), "w") as f:
            for record in records:
                f.write(json.dumps(record) + "\n")
        with open(os.path.join(directory, "faults.jsonl"), "w") as f:
            for fault in faults:
                f.write(json.dumps(fault) + "\n")
        with open(os.path.join(directory, "run.json"), "w") as f:
            json.dump({"seed": 1, "minutes": 0.1, "start_ms": T0, "end_ms": T0 + 10000,
                       "gateway_exit": gateway_exit, "replay": "scripts/chaos --minutes 0.1 "
                       "--seed 1"}, f)
        result = subprocess.run([CHECKER, directory], capture_output=True, text=True)
        self.assertTrue(os.path.exists(os.path.join(directory, "report.html")),
                        result.stdout + result.stderr)
        return result

    def assert_failed(self, result, check, *words):
        self.assertEqual(result.returncode, 1, result.stdout)
        line = next((l for l in result.stdout.splitlines() if f"FAILED {check}" in l), None)
        self.assertIsNotNone(line, result.stdout)
        tail = result.stdout.split(line, 1)[1]
        for word in words:
            self.assertIn(word, tail, result.stdout)

    def test_a_clean_history_holds(self):
        result = self.run_checker(clean_history())
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("every check held", result.stdout)
        self.assertNotIn("FAILED", result.stdout)

    def test_a_lost_acknowledged_write_fails(self):
        records = clean_history()
        records[-3] = final("a", "v1")  # v3 was acknowledged after v1
        self.assert_failed(self.run_checker(records), "acknowledged_writes_durable",
                           "a: final read 'v1'", "set v3")

    def test_a_deleted_key_that_comes_back_fails(self):
        records = clean_history()
        records[-2] = final("b", "w1")
        self.assert_failed(self.run_checker(records), "acknowledged_writes_durable",
                           "b: final read 'w1'")

    def test_a_stale_read_fails(self):
        records = clean_history()
        records.append(kv("get", "a", 2300, value="v1", version=1, found=True))
        self.assert_failed(self.run_checker(records), "reads_see_acknowledged_writes",
                           "returned 'v1'")

    def test_a_version_that_goes_back_fails(self):
        records = clean_history()
        records.append(kv("set", "a", 2250, value="v4", version=2))
        self.assert_failed(self.run_checker(records), "versions_increase", "version 2")

    def test_an_undelivered_acknowledged_publish_fails(self):
        records = clean_history() + [pub("p3", 2650)]
        self.assert_failed(self.run_checker(records), "acknowledged_publishes_delivered",
                           "p3")

    def test_a_fault_without_a_later_success_fails(self):
        late = dict(FAULT, kind="nats_restart", start=T0 + 5000, heal=T0 + 6000)
        self.assert_failed(self.run_checker(clean_history(), faults=(FAULT, late)),
                           "every_fault_recovered", "nats_restart")

    def test_an_unclean_shutdown_fails(self):
        self.assert_failed(self.run_checker(clean_history(), gateway_exit=1),
                           "clean_shutdown", "exited with 1")

    def test_a_missing_run_directory_is_a_usage_error(self):
        result = subprocess.run([CHECKER, "/nonexistent/chaos-run"], capture_output=True,
                                text=True)
        self.assertEqual(result.returncode, 2)
        self.assertIn("/nonexistent/chaos-run is not a directory", result.stderr)


if __name__ == "__main__":
    sys.exit(unittest.main())
