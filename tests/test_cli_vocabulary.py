"""One vocabulary (docs/cli.md): every command's options against the table in the docs, both
ways, so that the documentation and the code cannot drift; singular and plural names that really
are one option; and the `--json` outputs parsed."""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from harness.cli import cli, main
from harness.cli.jsonout import dumps

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
KINDS = {"one", "list", "flag", "two"}


def doc_table() -> tuple[list[str], dict[tuple[str, ...], dict]]:
    """(command columns, {option names: {"short": ..., cells: {command: kind}}}) from docs/cli.md's
    Options table."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Options", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:3] == ["option", "short", "what"], header
    commands = header[3:]
    rows = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert len(cells) == len(header), f"docs/cli.md: a row of {len(cells)} cells: {ln}"
        names = tuple(re.findall(r"`(--[a-z0-9-]+)`", cells[0]))
        assert names, f"docs/cli.md: no option named in {cells[0]!r}"
        assert names not in rows, f"docs/cli.md: {names} listed twice"
        kinds = dict(zip(commands, cells[3:]))
        bad = {c: k for c, k in kinds.items() if k and k not in KINDS}
        assert not bad, f"docs/cli.md: {names}: cells must be one of {KINDS} or blank, not {bad}"
        rows[names] = {"short": cells[1].strip("`") or None, "cells": {c: k for c, k in kinds.items() if k}}
    return commands, rows


def code_commands() -> dict[str, click.Command]:
    """Every command of `harness`, subcommands of groups as 'group sub' (e.g. 'data fetch')."""
    out = {}

    def walk(group: click.Group, prefix: str) -> None:
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                walk(cmd, f"{prefix}{name} ")
            else:
                out[f"{prefix}{name}"] = cmd

    walk(cli, "")
    return out


def kind_of(opt: click.Option) -> str:
    if opt.is_flag:
        return "flag"
    if opt.multiple:
        return "list"
    return "two" if opt.nargs == 2 else "one"


def longs(opt: click.Option) -> set[str]:
    return {n for n in opt.opts + opt.secondary_opts if n.startswith("--")}


def shorts(opt: click.Option) -> set[str]:
    return {n for n in opt.opts + opt.secondary_opts if not n.startswith("--")}


def test_the_table_names_every_command():
    commands, _ = doc_table()
    assert sorted(commands) == sorted(code_commands())


def test_every_option_of_every_command_is_in_the_table_as_the_code_has_it():
    _, rows = doc_table()
    by_name = {n: (names, row) for names, row in rows.items() for n in names}
    problems = []
    for cname, cmd in code_commands().items():
        for opt in (p for p in cmd.params if isinstance(p, click.Option)):
            first = opt.opts[0] if opt.opts[0].startswith("--") else next(iter(longs(opt)))
            names, row = by_name.get(first, (None, None))
            if row is None:
                problems.append(f"{cname} {first}: not in docs/cli.md")
                continue
            kind = row["cells"].get(cname)
            if kind != kind_of(opt):
                problems.append(f"{cname} {first}: the table says {kind or 'absent'}, the code {kind_of(opt)}")
            # one value: the singular name only; a list or a flag pair: every name of the row
            want = {names[0]} if kind == "one" and len(names) == 2 and not opt.is_flag else set(names)
            if longs(opt) != want:
                problems.append(f"{cname}: code names {sorted(longs(opt))}, the table {sorted(want)}")
            if shorts(opt) != ({row["short"]} if row["short"] else set()):
                problems.append(f"{cname} {first}: short flag {sorted(shorts(opt))}, the table {row['short']}")
    assert not problems, "\n".join(problems)


def test_every_cell_of_the_table_is_an_option_of_its_command():
    _, rows = doc_table()
    cmds = code_commands()
    missing = []
    for names, row in rows.items():
        for cname in row["cells"]:
            opts = [p for p in cmds[cname].params if isinstance(p, click.Option) and longs(p) & set(names)]
            if not opts:
                missing.append(f"docs/cli.md lists {names[0]} on {cname}; the command has no such option")
    assert not missing, "\n".join(missing)


def test_a_short_flag_means_one_thing():
    _, rows = doc_table()
    short = [r["short"] for r in rows.values() if r["short"]]
    assert len(short) == len(set(short)), short


def test_list_options_take_singular_plural_repeated_and_commas_alike(tmp_path, capsys):
    """The grid of `--seed 1 --seed 2 -b torch --dataset synthetic --epochs 1 --epochs 2` is the grid of
    `--seeds 1,2 --backends torch --datasets synthetic --epochs 1,2`: the singular names are the same
    options, not look-alikes."""
    def points(*args):
        capsys.readouterr()
        assert main(["sweep", *args, "--dry-run", "--json", "--results-dir", str(tmp_path)]) == 0
        return [p["id"] for p in json.loads(capsys.readouterr().out)["points"]]

    a = points("--seed", "1", "--seed", "2", "-b", "torch", "--dataset", "synthetic", "--epochs", "1", "--epochs", "2")
    b = points("--seeds", "1,2", "--backends", "torch", "--datasets", "synthetic", "--epochs", "1,2")
    assert a == b and len(a) == 2 * 2  # seeds 1 and 2 x epochs 1 and 2: a repeated option keeps every value


def test_an_empty_value_in_a_repeated_list_is_refused(capsys):
    assert main(["bench", "--backend", "torch", "--backend", ",", "--results-dir", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "names nothing" in err


def test_json_of_backends_parses_with_the_documented_keys(capsys):
    assert main(["backends", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["command"] == "backends" and doc["json_version"] == 1
    names = [b["name"] for b in doc["backends"]]
    assert "torch" in names
    for b in doc["backends"]:
        assert set(b) == {"name", "available", "reason", "description", "strategies", "variants", "dtypes"}
        assert (b["reason"] is None) == b["available"]
        assert [s["idiomatic"] for s in b["strategies"]][:1] in ([True], [])
        for s in b["strategies"]:
            assert isinstance(s["name"], str) and (s["devices"] is None) == (not b["available"])
    torch = next(b for b in doc["backends"] if b["name"] == "torch")
    if torch["available"]:
        assert "cpu" in next(s for s in torch["strategies"] if s["name"] == "eager")["devices"]


def test_json_of_bench_is_the_result_file(tmp_path, capsys):
    """A tiny bench (4 examples a round, 2 rounds, synthetic data): stdout is one JSON object whose
    `result` is what the file at `path` holds."""
    pytest.importorskip("torch")
    code = main(["bench", "-b", "torch", "-s", "eager", "-d", "cpu", "--dataset", "synthetic", "--window", "4",
                 "--rounds", "2", "--json", "--results-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out)  # nothing but the object on stdout
    assert doc["command"] == "bench" and doc["json_version"] == 1
    assert json.loads(Path(doc["path"]).read_text()) == doc["result"]
    (row,) = doc["result"]["rows"]
    assert (row["backend"], row["strategy"], row["device"], row["rounds"], row["window"]) == \
        ("torch", "eager", "cpu", 2, 4)
    assert row["us_per_example"] > 0 and row["p25"] <= row["us_per_example"] <= row["p75"]


def test_sweep_json_needs_dry_run(capsys, tmp_path):
    assert main(["sweep", "--json", "--results-dir", str(tmp_path)]) == 2
    assert "--json goes with --dry-run" in capsys.readouterr().err


def test_json_turns_non_finite_floats_into_null():
    doc = json.loads(dumps("x", {"a": float("nan"), "b": [float("inf"), 1.5], "p": Path("r/x.json")}))
    assert doc == {"command": "x", "json_version": 1, "a": None, "b": [None, 1.5], "p": "r/x.json"}


def test_json_of_report_compare_gives_numbers_not_table_text(tmp_path, capsys):
    from tests.test_report import run_result, write

    a = write(tmp_path / "a.json", run_result(us=(100.0, 95.0, 105.0), final_test=(0.05, 100)))
    b = write(tmp_path / "b.json", run_result(us=(50.0, 48.0, 52.0), final_test=(0.06, 120)))
    assert main(["report", "--compare", str(a), str(b), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["command"] == "report --compare" and doc["a"] == {"path": str(a), "kind": "run"}
    (pair,) = doc["pairs"]
    assert pair["ratio_us_per_example"] == pytest.approx(0.5) and pair["beyond_spread"] is True
    assert pair["ratio_test_error"] == pytest.approx(1.2) and pair["b"]["test_misses"] == 120
    assert doc["only_a"] == doc["only_b"] == []
