"""`make mutate`'s summary: per module, how many of mutmut's mutants the tests killed, and every
survivor (a mutant no test noticed, or one no test even runs), with `mutmut show NAME` to read
it. Equivalent mutants (same behaviour, so no test can kill them) are not generated at all:
their lines carry `# pragma: no mutate` with the reason.

Run after `mutmut run`: python -m tests.mutation_report [--target 10] [--list | --names]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

KILLED = {1, 3, -24, 24, 36, 37, 152, 255}  # a test failed, or it timed out / was caught
SURVIVED, NO_TESTS = 0, 33


def metas(mutants: Path) -> Iterator[tuple[str, dict]]:
    """mutmut's record of each mutated source file: its path (helpers/x.py) and the record."""
    for meta in sorted(mutants.rglob("*.py.meta")):
        yield str(meta.relative_to(mutants).with_suffix("")), json.loads(meta.read_text())


def outcomes(mutants: Path) -> dict[str, dict[str, int | None]]:
    """Exit code of each mutant, by module."""
    return {
        path.removesuffix(".py"): data["exit_code_by_key"]
        for path, data in metas(mutants)
        if data["exit_code_by_key"]
    }


def summary(found: dict[str, dict[str, int | None]]) -> tuple[list[tuple], dict[str, list[str]]]:
    """Rows of (module, mutants, killed, survived, no tests, not run) and survivors by module."""
    rows, survivors = [], defaultdict(list)
    for module, codes in found.items():
        kinds = Counter(
            "not run"
            if code is None
            else "killed"
            if code in KILLED
            else "no tests"
            if code == NO_TESTS
            else "survived"
            for code in codes.values()
        )
        survivors[module] = sorted(k for k, code in codes.items() if code in (SURVIVED, NO_TESTS))
        rows.append(
            (
                module,
                len(codes),
                kinds["killed"],
                kinds["survived"],
                kinds["no tests"],
                kinds["not run"],
            )
        )
    return rows, survivors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--target", type=float, default=10.0, help="most survivors, in percent")
    parser.add_argument("--list", action="store_true", help="name every survivor")
    parser.add_argument("--names", action="store_true", help="only the survivors' names")
    args = parser.parse_args(argv)
    rows, survivors = summary(outcomes(args.mutants))
    if args.names:  # for `mutmut run NAME...`, which retests them against today's tests
        print(" ".join(name for names in survivors.values() for name in names))
        return 0
    print(
        "| module | mutants | killed | survived | no test runs it | not run | survivors % of run |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    total = Counter()
    for module, count, killed, survived, untested, waiting in sorted(rows):
        if waiting == count:
            continue  # not in this run (MUTANTS narrowed it)
        total.update(
            mutants=count, killed=killed, survived=survived, untested=untested, waiting=waiting
        )
        share = 100 * (survived + untested) / max(1, count - waiting)
        cells = [module, count, killed, survived, untested, waiting, f"{share:.1f}%"]
        print(f"| {' | '.join(map(str, cells))} |")
    share = (
        100 * (total["survived"] + total["untested"]) / max(1, total["mutants"] - total["waiting"])
    )
    print(
        f"| all | {total['mutants']} | {total['killed']} | {total['survived']} | "
        f"{total['untested']} | {total['waiting']} | {share:.1f}% |"
    )
    if args.list:
        for module, names in sorted(survivors.items()):
            if names:
                print(f"\n{module}:")
                print("\n".join(f"  {name}" for name in names))
    verdict = "within" if share <= args.target else "above"
    print(f"\n{share:.1f}% of the mutants run survive: {verdict} the {args.target:.0f}% target.")
    if total["waiting"]:
        print(f"{total['waiting']} mutants not run yet (an interrupted run): no verdict on them.")
    return 0 if share <= args.target and not total["waiting"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
