"""Every case of tests/bad_inputs.toml run as a real ``hardmine`` process, classified.

    python bench/bad_inputs.py [SOURCE_TREE]        # ~10 min on a busy 2-core machine

SOURCE_TREE (default: this checkout) is put first on PYTHONPATH of each
command, so an old tree (``git archive <commit> | tar -x -C /tmp/old``) can be
measured with today's table. A case is clean when the command exits with the
status 2, prints exactly one stderr line starting with ``error: ``, no
``Traceback``, and leaves its folder byte-identical. Each command gets 180 s.
Prints one JSON line per case, then the counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
TF_NOTICES = ("WARNING: All log messages before absl", "cpu_feature_guard", "To enable the following instructions",
              "oneDNN")


class _Finalizers:  # the part of pytest's ``request`` the table's file makers use
    def __init__(self) -> None:
        self.done = []

    def addfinalizer(self, fn) -> None:
        self.done.append(fn)


def main(source: Path) -> None:
    sys.path[:0] = [str(HERE / "tests"), str(HERE)]
    import test_bad_inputs as table

    root = Path(tempfile.mkdtemp(prefix="bad-inputs-"))
    templates = table.make_templates(root / "templates")
    rows = []
    for i, (name, case) in enumerate(table.CASES.items()):
        d = root / f"case-{i}"
        request = _Finalizers()
        argv, case_env = table.prepare(case, d, templates, request)
        before = table.snapshot(d)
        env = {**os.environ, "PYTHONPATH": str(source), "PREFECT_HOME": str(root / "prefect"), **case_env}
        try:
            p = subprocess.run([sys.executable, "-c", "from flows.cli import main; main()", *argv], env=env,
                               capture_output=True, text=True, timeout=180)
            code, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as exc:
            code, out, err = "timeout", str(exc.stdout or ""), str(exc.stderr or "")
        lines = err.splitlines()
        quiet = [line for line in lines if not any(n in line for n in TF_NOTICES)]
        changed = table.snapshot(d) != before
        ok = code == 2 and "Traceback" not in out + err and not changed
        row = dict(name=name, code=code, stderr_lines=len(lines), traceback="Traceback" in out + err,
                   changed=changed,
                   clean=ok and len(lines) == 1 and lines[0].startswith("error: "),
                   clean_but_tf_notices=ok and len(quiet) == 1 and quiet[0].startswith("error: "))
        rows.append(row)
        print(json.dumps(row), flush=True)
        for fn in reversed(request.done):
            fn()
    count = lambda key: sum(bool(r[key]) for r in rows)  # noqa: E731
    print(f"cases {len(rows)}, clean {count('clean')} (ignoring TensorFlow's notices "
          f"{count('clean_but_tf_notices')}), tracebacks {count('traceback')}, "
          f"exit 0 {sum(r['code'] == 0 for r in rows)}, timeouts {sum(r['code'] == 'timeout' for r in rows)}, "
          f"files changed or left behind {count('changed')}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HERE)
