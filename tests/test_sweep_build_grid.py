"""`harness sweep`'s grid from its options and grid file (harness.cli.sweep.build_grid): the command
line's --seeds replace the file's, crossed with every entry and keeping each entry's resources;
lists a grid file would drop are refused; the bound on points holds after the crossing; resources
given on the command line reach every point. Called directly: no point runs."""
from __future__ import annotations

import importlib

import pytest

from harness.sweep.grid import GridError

sweep_cli = importlib.import_module("harness.cli.sweep")  # `harness.cli.sweep` the attribute is the command

GRID = """
seeds = [1, 2]

[[configs]]
backend = "torch"
dataset = "synthetic"
limit = 10
resources = {h100 = 1}

[[configs]]
backend = "torch"
dataset = "synthetic"
limit = 20
"""


def _lists(**given) -> dict:
    return {axis: None for axis in sweep_cli.AXES} | given


@pytest.fixture
def grid_file(tmp_path):
    p = tmp_path / "grid.toml"
    p.write_text(GRID)
    return p


def test_file_seeds_by_default(grid_file):
    g = sweep_cli.build_grid(grid_file, _lists(), 256, {})
    assert [(c.limit, c.seed) for c in g.points] == [(10, 1), (10, 2), (20, 1), (20, 2)]


def test_command_line_seeds_replace_the_files(grid_file):
    g = sweep_cli.build_grid(grid_file, _lists(seeds="5-7"), 256, {"cpu_box": 2.0})
    assert [(c.limit, c.seed) for c in g.points] == [(10, 5), (10, 6), (10, 7), (20, 5), (20, 6), (20, 7)]
    assert g.spec["seeds"] == "5-7"
    # each entry keeps its own resources, crossed with the new seeds; the command line's reach every point
    assert [g.resources[c] for c in g.points] == [{"cpu_box": 2.0, "h100": 1}] * 3 + [{"cpu_box": 2.0}] * 3
    assert g.spec["resources"] == {"cpu_box": 2.0}


def test_command_line_seeds_count_against_the_bound(grid_file):
    with pytest.raises(GridError, match=r"^the grid has 6 points, more than the 5 a sweep may have"):
        sweep_cli.build_grid(grid_file, _lists(seeds="1-3"), 256, {}, max_points=5)
    assert len(sweep_cli.build_grid(grid_file, _lists(seeds="1-3"), 256, {}, max_points=6).points) == 6


def test_lists_a_grid_file_would_drop_are_refused(grid_file):
    with pytest.raises(GridError) as e:
        sweep_cli.build_grid(grid_file, _lists(backends="jax"), 256, {})
    assert str(e.value).startswith("--backends is for grids given by options; with a grid file")
    assert str(e.value).endswith("write backends = ... in the file")
    with pytest.raises(GridError, match=r"^--backends, --epochs are for grids given by options"):
        sweep_cli.build_grid(grid_file, _lists(backends="jax", epochs="2"), 256, {})


def test_options_alone_make_the_product():
    g = sweep_cli.build_grid(None, _lists(seeds="1,2", datasets="synthetic", limit="5,6"), 64, {"x": 1.0})
    assert sorted((c.seed, c.limit, c.window) for c in g.points) == [(1, 5, 64), (1, 6, 64), (2, 5, 64), (2, 6, 64)]
    assert g.spec["window"] == 64 and g.spec["seeds"] == "1,2"
    assert all(g.resources[c] == {"x": 1.0} for c in g.points)


@pytest.mark.parametrize("text, out", [(None, {}), ("", {}), ("h100=1, big=2.5", {"h100": 1.0, "big": 2.5}),
                                       ('{"h100": 1}', {"h100": 1})])
def test_parse_resources(text, out):
    assert sweep_cli._parse_resources(text) == out


@pytest.mark.parametrize("text", ["h100", "h100=x", "[1]"])
def test_parse_resources_refuses(text):
    with pytest.raises(GridError, match="is not name=amount"):
        sweep_cli._parse_resources(text)


def test_ray_only_options_are_refused_by_the_local_executor():
    sweep_cli._ray_only("ray", ray_address="auto", share_cores=True)  # ray takes them
    sweep_cli._ray_only("local", ray_address=None, share_cores=False)  # none given
    with pytest.raises(GridError, match=r"^--ray-address is for --executor ray; add --executor ray, or leave it out$"):
        sweep_cli._ray_only("local", ray_address="auto", share_cores=False)
    with pytest.raises(GridError, match=r"^--ray-address, --share-cores are for --executor ray"):
        sweep_cli._ray_only("local", ray_address="auto", share_cores=True)


# -- the messages, whole: each names the options and says what to write instead ----------------------

def test_lists_beside_a_grid_file_message_names_each_and_its_toml_key(grid_file):
    with pytest.raises(GridError) as e:
        sweep_cli.build_grid(grid_file, _lists(backends="jax", epochs="2", seeds="1"), 256, {})
    assert str(e.value) == ("--backends, --epochs are for grids given by options; with a grid file (only --seeds "
                            "replaces the file's), write backends = ..., epochs = ... in the file")
    with pytest.raises(GridError) as e:
        sweep_cli.build_grid(grid_file, _lists(threads="1"), 256, {})
    assert str(e.value) == ("--threads is for grids given by options; with a grid file (only --seeds replaces "
                            "the file's), write threads = ... in the file")


def test_command_line_seeds_bound_message_whole(grid_file):
    with pytest.raises(GridError) as e:
        sweep_cli.build_grid(grid_file, _lists(seeds="1-1000"), 256, {}, max_points=1500)
    assert str(e.value) == ("the grid has 2,000 points, more than the 1,500 a sweep may have "
                            "(--max-points raises the bound)")


def test_ray_only_message_whole():
    with pytest.raises(GridError) as e:
        sweep_cli._ray_only("local", ray_address="auto", share_cores=True, resources="h100=1")
    assert str(e.value) == ("--ray-address, --share-cores, --resources are for --executor ray; "
                            "add --executor ray, or leave it out")


# -- `sweep --dry-run --json`'s document (dry_run_doc; keys: docs/cli.md) --------------------------------

def test_dry_run_doc_states_counts_and_resources(grid_file, tmp_path):
    from harness.sweep.manifest import point_id

    g = sweep_cli.build_grid(grid_file, _lists(), 256, {})
    ids = [point_id(c) for c in g.points]
    done = {ids[0], ids[3], "a point of another grid"}  # only this grid's count as found
    doc = sweep_cli.dry_run_doc(g, done, tmp_path / "r")
    assert list(doc) == ["results_dir", "count", "found", "pending", "points"]
    assert doc["results_dir"] == str(tmp_path / "r")
    assert (doc["count"], doc["found"], doc["pending"]) == (4, 2, 2)
    assert [p["state"] for p in doc["points"]] == ["found", "pending", "pending", "found"]
    assert [p["id"] for p in doc["points"]] == ids
    assert [p["config"] for p in doc["points"]] == [c.to_dict() for c in g.points]
    assert [p["resources"] for p in doc["points"]] == [{"h100": 1}, {"h100": 1}, None, None]  # none: null
    assert all(list(p) == ["id", "state", "config", "resources"] for p in doc["points"])
    nothing = sweep_cli.dry_run_doc(g, set(), "r")
    assert (nothing["found"], nothing["pending"]) == (0, 4) and nothing["results_dir"] == "r"
    assert {p["state"] for p in nothing["points"]} == {"pending"}


def test_the_command_refuses_set_beside_a_grid_file_and_notes_ignored_resources(grid_file, tmp_path, capsys):
    from harness.cli import main

    assert main(["sweep", str(grid_file), "--set", "dropout=0.5", "--dry-run"]) == 2
    assert capsys.readouterr().err == ("harness: error: --set is for grids given by options; in a grid file, write "
                                       "its knobs in a `set` or `recipe` table\n")
    # the file's resources (h100 = 1) mean nothing to the local executor: said, not silently dropped
    assert main(["sweep", str(grid_file), "--dry-run", "--results-dir", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().err == ("note: the grid file's resources are for --executor ray; the local "
                                       "executor ignores them\n")
