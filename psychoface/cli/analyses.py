"""Analysis commands, one per registered analysis kind, built from the kind's options.

Each runs the kind's build() (the same code path as ``psychoface run``), prints its APA tables and
sentences, and saves tables, raw results, figures and provenance to ``--save`` (default
``results/<command>/`` in the study folder). This frame names no analysis.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional

import typer

from psychoface.cli.common import ConfigOption, console, handle_errors, split_list
from psychoface.config import load_config

SaveOption = typer.Option(None, "--save", help="Folder for tables, figures and provenance \\[default: results/COMMAND].")
NoSaveOption = typer.Option(False, "--no-save", help="Print only; write no files.")


def run_kind(name: str, config, overrides: dict, save: Optional[Path], no_save: bool, **options) -> None:
    """Build the section of kind ``name`` on the study ``config`` (with ``overrides``), print it and save
    it unless ``no_save``."""
    from psychoface.kinds.registry import get
    from psychoface.reports.apa import to_rich
    from psychoface.reports.section import save_section

    kind = get(name)
    cfg = load_config(config, **overrides)
    folder = None if no_save else (save or cfg.root / "results" / name)
    section = kind.build(cfg, figures_dir=folder, **options)
    for i, table in enumerate(section.tables, start=1):
        table.number = i
        console.print(table.to_terminal())
        console.print()
    for sentence in section.sentences:
        console.print(to_rich(sentence), highlight=False)
    if folder is not None:
        written = save_section(section, folder, config=cfg)
        console.print(f"\nwrote {len(written)} files to {folder}", highlight=False)


_CLI_TYPES = {str: str, int: int, float: float, bool: bool, list: str}


def _parameter(option) -> inspect.Parameter:
    """The typer parameter of an :class:`~psychoface.kinds.registry.Option`."""
    default = option.default
    if option.type is list and default is not None:
        default = ",".join(map(str, default)) or None
    cli_type = _CLI_TYPES[option.type]
    annotation = cli_type if (option.required or (default is not None)) else Optional[cli_type]
    if option.argument:
        info = typer.Argument(... if option.required else default, help=option.help, show_default=not option.required)
    else:
        info = typer.Option(... if option.required else default, *option.cli_flags, help=option.help)
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def command(kind):
    """The typer command function of ``kind``: its options, then --config, --save and --no-save."""
    names = {o.name for o in kind.options}
    clash = names & {"config", "save", "no_save"}
    if clash:
        from psychoface.errors import PsychofaceError

        raise PsychofaceError(f"analysis kind {kind.name!r}: option name(s) {', '.join(sorted(clash))} are the "
                              "CLI's own; rename them")

    def run(**values):
        config, save, no_save = values.pop("config"), values.pop("save"), values.pop("no_save")
        overrides, options = {}, {}
        for option in kind.options:
            value = values[option.name]
            if option.type is list:
                value = split_list(value)
                if value is None and option.default is not None and not option.study_key:
                    value = list(option.default)
            if option.study_key:
                overrides[option.study_key] = value
            else:
                options[option.name] = value
        run_kind(kind.name, config, overrides, save, no_save, **options)

    parameters = [_parameter(o) for o in kind.options if o.argument]
    parameters += [_parameter(o) for o in kind.options if not o.argument]
    parameters += [
        inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=ConfigOption, annotation=Optional[Path]),
        inspect.Parameter("save", inspect.Parameter.KEYWORD_ONLY, default=SaveOption, annotation=Optional[Path]),
        inspect.Parameter("no_save", inspect.Parameter.KEYWORD_ONLY, default=NoSaveOption, annotation=bool),
    ]
    run.__signature__ = inspect.Signature(parameters)
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    run.__name__ = kind.name.replace("-", "_")
    run.__doc__ = kind.help
    return handle_errors(run)
