"""The registry of the built-in analysis kinds: each kind's options agree with its build(), the demo
file runs exactly the kinds that say they are in the demo, every command is built from the registry,
and the engine finds each kind's words."""

import inspect
import tomllib
from importlib import resources

import pytest
from typer.testing import CliRunner

from psychoface.kinds.registry import kinds, words_for

BUILT_IN = ["reliability", "predict", "correlate", "rsa", "compare"]


def test_built_in_kinds_in_order():
    assert [k.name for k in kinds()][:5] == BUILT_IN


@pytest.mark.parametrize("name", BUILT_IN)
def test_options_match_the_build_signature(name):
    kind = next(k for k in kinds() if k.name == name)
    parameters = inspect.signature(kind.build).parameters
    assert {"figures_dir", "figure_prefix", "progress"} <= set(parameters)
    for option in kind.options:
        if option.study_key:
            assert option.name not in parameters, option.name
            continue
        parameter = parameters[option.name]
        if option.required:
            assert parameter.default is inspect.Parameter.empty or parameter.default is None
        else:
            assert parameter.default == option.default, (name, option.name)
    for words in kind.words:
        for analysis in words.analyses:
            assert words_for(analysis) is words and words_for(analysis.upper()) is words


def test_the_demo_runs_exactly_the_kinds_in_the_demo():
    demo = tomllib.loads(resources.files("psychoface").joinpath("demo.toml").read_text(encoding="utf-8"))
    runs = [{k: v for k, v in item.items() if k != "kind"} | {"kind": item["kind"]} for item in demo["analysis"]]
    assert {r["kind"] for r in runs} == {k.name for k in kinds() if k.demo is not None}
    for kind in kinds():
        if kind.demo is not None:
            assert {**kind.demo, "kind": kind.name} in runs, kind.name


def test_every_kind_has_a_command_with_its_options():
    from psychoface.cli import build_app

    runner = CliRunner()
    app = build_app()
    for kind in kinds():
        result = runner.invoke(app, [kind.name, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert kind.help.split("\n")[0] in result.output
        for option in kind.options:
            if not option.argument:
                assert option.cli_flags[0].split("/")[0] in result.output, (kind.name, option.name)


def test_help_is_written_in_paragraphs_not_source_lines():
    """`psychoface demo --help` in an 80-column terminal: no line ends mid-paragraph at the source's line
    breaks (each paragraph is wrapped by the terminal)."""
    from psychoface.cli import build_app

    output = CliRunner().invoke(build_app(), ["demo", "--help"], env={"COLUMNS": "80"}).output
    lines = [line.strip() for line in output.splitlines()]
    body = lines[lines.index(next(line for line in lines if line.startswith("Draws"))):]
    paragraph = body[:body.index("")]
    assert all(len(line) > 60 for line in paragraph[:-1]), paragraph
