"""The option factories of `harness`'s commands (harness.cli.options, jsonout, sweep's grid axes),
called here on a command of the test's own: what each promises its option takes, its default, its
metavar and its --help text. (The commands' own options are built when harness.cli is imported;
these tests build fresh ones, so a change to a factory shows here even in a process that imported
the commands before the change.)"""
from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from harness.cli import jsonout, options

sweep_cli = importlib.import_module("harness.cli.sweep")  # `harness.cli.sweep` the attribute is the command


def _command(*decorators) -> click.Command:
    """A command that echoes the values its options hand it, as JSON."""
    def echo(**kw):
        click.echo(json.dumps(kw, default=str))
    for d in reversed(decorators):
        echo = d(echo)
    return click.command(context_settings={"max_content_width": 400, "terminal_width": 400})(echo)


def _invoke(cmd, *args, code=0):
    r = CliRunner().invoke(cmd, list(args))
    assert r.exit_code == code, (r.output, r.exception)
    return json.loads(r.output) if code == 0 else r.output


def _help(cmd) -> str:
    return " ".join(CliRunner().invoke(cmd, ["--help"]).output.split())  # one line: wrapping aside


def _option(cmd, name) -> click.Option:
    return next(p for p in cmd.params if isinstance(p, click.Option) and name in p.opts)


# -- data_options ---------------------------------------------------------------------------------

def test_data_options_default_to_usps_and_no_folder():
    cmd = _command(options.data_options)
    assert _invoke(cmd) == {"dataset": "usps", "data_dir": None}
    assert _invoke(cmd, "--dataset", "mnist", "--data-dir", "somewhere") == {"dataset": "mnist", "data_dir": "somewhere"}
    assert _option(cmd, "--data-dir").type.type is Path
    text = _help(cmd)
    assert "--dataset TEXT Data set: usps (the 1989 data), mnist (karpathy's 16x16 approximation), synthetic. [default: usps]" in text
    assert "--data-dir DIRECTORY Folder holding usps/ and mnist/ (default: $HARNESS_DATA_DIR, else a per-user cache)." in text


def test_data_dir_must_not_be_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    assert "is a file" in _invoke(_command(options.data_options), "--data-dir", str(f), code=2)


# -- list_option ----------------------------------------------------------------------------------

@pytest.mark.parametrize("noun", list(options.PLURAL))
def test_list_option_answers_to_plural_singular_and_short_flag(noun):
    plural = options.PLURAL[noun]
    cmd = _command(options.list_option(noun, "Things.", "got"))
    opt = _option(cmd, f"--{plural}")
    expected = [f"--{plural}", f"--{noun}", *([options.SHORT[noun]] if noun in options.SHORT else [])]
    assert opt.opts == expected and opt.multiple and opt.name == "got"
    assert _invoke(cmd) == {"got": None}
    assert _invoke(cmd, f"--{noun}", "a", f"--{plural}", "b,c") == {"got": "a,b,c"}  # repeated: joined
    if noun in options.SHORT:
        assert _invoke(cmd, options.SHORT[noun], "x", options.SHORT[noun], "y") == {"got": "x,y"}
    text = _help(cmd)
    assert (f"NAME[,NAME...] Things. Repeat the option or separate with commas; --{noun} and --{plural} "
            "are the same option.") in text


def test_list_option_dest_defaults_to_the_plural_and_metavar_can_be_set():
    cmd = _command(options.list_option("seed", "Seeds.", metavar="RANGE"))
    assert _invoke(cmd, "--seed", "1-3") == {"seeds": "1-3"}
    assert "--seeds, --seed RANGE Seeds." in _help(cmd)


@pytest.mark.parametrize("value", ["", ",", " , "])
def test_list_option_refuses_a_value_that_names_nothing(value):
    out = _invoke(_command(options.list_option("backend", "B.")), "--backend", "torch", "--backends", value, code=2)
    assert f"--backends {value!r} names nothing; name at least one, or leave the option out for all" in out


def test_names_splits_commas_and_drops_blanks():
    assert options._names("a, b,,c ,") == ["a", "b", "c"]
    assert options._names(None) is None and options._names("") is None


# -- common_options, recipe_option, bounds ---------------------------------------------------------

def test_common_options_defaults(monkeypatch):
    for var in ("HARNESS_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    got = _invoke(_command(options.common_options))
    assert got == {"variant": "1989", "seed": 1337, "dtype": "float32", "results_dir": "results",
                   "sets": {}, "dataset": "usps", "data_dir": None}
    assert "HARNESS_THREADS" not in os.environ  # --threads not given: nothing set


def test_threads_sets_the_pools_variables(monkeypatch):
    for var in ("HARNESS_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    seen = {}

    @click.command()
    @options.common_options
    @click.pass_context
    def cmd(ctx, **kw):
        seen["meta"] = ctx.meta["harness_threads"]

    assert CliRunner().invoke(cmd, ["--threads", "3"]).exit_code == 0
    assert seen["meta"] == 3
    assert [os.environ[v] for v in ("HARNESS_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")] == ["3", "3", "3"]
    assert "0 is not in the range" in _invoke(cmd, "--threads", "0", code=2)


def test_common_options_help_names_every_default():
    text = _help(_command(options.common_options))
    for piece in ("--variant TEXT Network and training recipe: 1989, ", "(a named set of knobs: --set). [default: 1989]",
                  ("--seed INTEGER RANGE Seed of the initial parameters and of every random draw of training. "
                   "[default: 1337; 0<=x<=4294967295]"),
                  "--dtype [float32|float64] Floating-point type of parameters and arithmetic. [default: float32]",
                  "--results-dir DIRECTORY Where result JSON files are written (created if missing). [default: results]",
                  "--threads INTEGER RANGE CPU threads for the framework's intra-op pool",
                  "--set KNOB=VALUE Set a recipe knob of the variant, KNOB=VALUE; repeatable"):
        assert piece in text, piece


@pytest.mark.parametrize("name", ["seed", "threads", "epochs", "limit", "window"])
def test_bounds_are_the_configurations_rules(name):
    rng, rule = options.bounds(name), options.RULES[name]
    assert (rng.min, rng.max) == (rule.lo, rule.hi)
    assert not rng.min_open and not rng.max_open


@pytest.mark.parametrize("value", ["", "  "])
def test_results_dir_refuses_empty(value):
    out = _invoke(_command(options.common_options), "--results-dir", value, code=2)
    assert "is empty; name a directory ('.' for the current one)" in out


def test_results_dir_reaches_the_command_as_a_path():
    seen = {}

    @click.command()
    @options.common_options
    def cmd(results_dir, **kw):
        seen["dir"] = results_dir

    assert CliRunner().invoke(cmd, ["--results-dir", "out"]).exit_code == 0
    assert seen["dir"] == Path("out")


def test_set_parses_knobs_and_set_help_lists_them():
    cmd = _command(options.recipe_option)
    assert _invoke(cmd, "--set", "targets=0.8", "--set", "init=fan_in") == {"sets": {"targets": "0.8", "init": "fan_in"}}
    r = CliRunner().invoke(cmd, ["--set", "help"])
    assert r.exit_code == 0 and "targets" in r.output and "init" in r.output


# -- json_option ----------------------------------------------------------------------------------

def test_json_option_bare_and_with_help():
    bare = _command(jsonout.json_option)
    assert _invoke(bare) == {"as_json": False} and _invoke(bare, "--json") == {"as_json": True}
    assert f"--json {jsonout.HELP}" in _help(bare)
    custom = _command(jsonout.json_option(help="Mine."))
    assert _invoke(custom, "--json") == {"as_json": True} and "--json Mine." in _help(custom)


# -- sweep's grid axes ----------------------------------------------------------------------------

def test_sweep_axis_options_metavars_and_help():
    seeds = _command(sweep_cli._list_option("seeds", "Seeds."))
    assert _option(seeds, "--seeds").opts == ["--seeds", "--seed"]
    assert "--seeds, --seed RANGE Seeds." in _help(seeds)
    backends = _command(sweep_cli._list_option("backends", "Backends."))
    assert "-b, --backends, --backend NAME[,NAME...] Backends." in _help(backends)
    epochs = _command(sweep_cli._list_option("epochs", "Passes."))
    opt = _option(epochs, "--epochs")
    assert opt.opts == ["--epochs"] and opt.multiple
    assert "--epochs N[,N...] Passes. Repeat the option or separate with commas." in _help(epochs)
    assert _invoke(epochs, "--epochs", "1", "--epochs", "2,3") == {"epochs": "1,2,3"}
    assert _invoke(epochs) == {"epochs": None}
    assert "names nothing" in _invoke(epochs, "--epochs", ",", code=2)
