"""`make mutate`'s verdicts, kept in git so that mutation runs add up across checkouts.

mutmut keeps each mutant's exit code in mutants/ (not committed), beside a hash of the function it
mutates, and reuses a verdict while that function is unchanged. `save` copies those codes and
hashes into LEDGER; `restore` puts them back into a mutants/ that lacks them, so mutmut retests
only the functions changed since, the mutants never run, and (as `make mutate` asks) survivors.
A verdict follows its function's source, not the tests: after weakening a test, delete LEDGER and
mutants/ to start over.

python -m tests.mutation_ledger save|restore [--mutants mutants] [--ledger tests/...json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tests.mutation_report import metas

LEDGER = Path(__file__).with_name("mutation_verdicts.json")
SEPARATOR = "__mutmut_"


def by_function(data: dict) -> dict[str, dict]:
    """A source file's verdicts (mutmut's record of it) by function: its hash and its mutants'
    exit codes (None: not run), mutant 1 first."""
    functions = {
        name: {"hash": h, "codes": []} for name, h in data["hash_by_function_name"].items()
    }
    for key, code in data["exit_code_by_key"].items():
        function, _, number = key.rpartition(".")[2].rpartition(SEPARATOR)
        codes = functions[function]["codes"]
        codes.extend([None] * (int(number) - len(codes)))
        codes[int(number) - 1] = code
    return functions


def save(mutants: Path, ledger: Path) -> int:
    """Write every source file's verdicts from mutants/ to the ledger; returns the verdicts."""
    files = {path: by_function(data) for path, data in metas(mutants)}
    files = {path: functions for path, functions in files.items() if functions}
    lines = [
        f"  {json.dumps(path)}: {{\n"
        + ",\n".join(
            f"    {json.dumps(name)}: {json.dumps(entry)}" for name, entry in functions.items()
        )
        + "\n  }"
        for path, functions in files.items()
    ]
    ledger.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    return sum(c is not None for fs in files.values() for f in fs.values() for c in f["codes"])


def restore(mutants: Path, ledger: Path) -> int:
    """Fill mutants/ with the ledger's verdicts: a source file mutmut has not mutated yet gets the
    ledger's record (mutmut keeps the verdicts of functions whose hash still matches when it
    mutates it), one it has gets the ledger's codes where its own are missing and the function's
    hash is the same. Returns the verdicts restored."""
    restored = 0
    for path, functions in json.loads(ledger.read_text()).items() if ledger.exists() else []:
        meta = mutants / f"{path}.meta"
        module = path.removesuffix(".py").replace("/", ".")
        if meta.exists():
            data = json.loads(meta.read_text())
        else:
            (mutants / path).unlink(missing_ok=True)  # so mutmut mutates it and checks the hashes
            meta.parent.mkdir(parents=True, exist_ok=True)
            data = {
                "exit_code_by_key": {},
                "durations_by_key": {},
                "type_check_error_by_key": {},
                "estimated_durations_by_key": {},
                "hash_by_function_name": {name: entry["hash"] for name, entry in functions.items()},
            }
        codes = data["exit_code_by_key"]
        for name, entry in functions.items():
            if data["hash_by_function_name"].get(name) != entry["hash"]:
                continue
            for number, code in enumerate(entry["codes"], start=1):
                key = f"{module}.{name}{SEPARATOR}{number}"
                if code is not None and codes.get(key) is None:
                    codes[key] = code
                    restored += 1
        meta.write_text(json.dumps(data, indent=4))
    return restored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["save", "restore"])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--ledger", type=Path, default=LEDGER)
    args = parser.parse_args(argv)
    if args.action == "save":
        print(f"{save(args.mutants, args.ledger)} mutation verdicts kept in {args.ledger}")
    else:
        print(f"{restore(args.mutants, args.ledger)} mutation verdicts restored from {args.ledger}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
