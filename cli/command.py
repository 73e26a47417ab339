"""The typer application every `gongkai` command group is made of, with help written the way
the tools operators already use write it: `FILE`, `[SERVICE]` and `SERVICES...` in the usage
line, `--limit INTEGER` in the options, flags without a type. Typer's own placeholders (`{file}`,
`<bool>`, `<list[str]>`) read like template syntax and were taken for bugs."""

import inspect
from pathlib import Path

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# Click's names for the value a placeholder stands for.
TYPE_WORDS = {int: "INTEGER", float: "NUMBER", str: "TEXT", Path: "PATH"}


def _placeholder(param: TyperArgument | TyperOption) -> str:
    if isinstance(param, TyperArgument):
        return param.name.upper()
    if param.is_flag:
        return ""  # a flag takes no value
    described = param.type_descriptor
    if described.is_choice:
        return "[" + "|".join(str(c) for c in described.choices) + "]"
    return TYPE_WORDS.get(described.annotation, "VALUE")


class Argument(TyperArgument):
    def display_type_rich(self, ctx: typer.Context) -> None:
        return None  # its name, in capitals, says what it is; a type beside it is noise


def _named(params: list) -> list:
    for param in params:
        if isinstance(param, TyperArgument):
            param.__class__ = Argument  # typer builds its arguments itself and takes no class for them
        if isinstance(param, TyperArgument | TyperOption) and param.metavar is None:
            param.metavar = _placeholder(param)
    return params


def reflowed(text: str | None) -> str | None:
    """Docstring paragraphs as one line each: they are wrapped for the source file, and help
    wraps them again for the terminal (typer would keep the source's line breaks)."""
    if text is None:
        return None
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _usage(command: TyperCommand | TyperGroup, ctx: typer.Context) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            piece = param.metavar + ("..." if param.nargs != 1 else "")
            pieces.append(piece if param.required else f"[{piece}]")
    return pieces


class Command(TyperCommand):
    def __init__(self, *args, help: str | None = None, **options):
        super().__init__(*args, help=reflowed(help), **options)

    def get_params(self, ctx: typer.Context) -> list:
        return _named(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        return _usage(self, ctx)


class Group(TyperGroup):
    def get_params(self, ctx: typer.Context) -> list:
        return _named(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        return [*_usage(self, ctx), self.subcommand_metavar]


def one_of(choices: tuple[str, ...]):
    """A parameter callback: a value (or each of a list) outside `choices` is a usage error."""

    def check(value: str | list[str] | None):
        given = value if isinstance(value, list) else [] if value is None else [value]
        if unknown := [v for v in given if v not in choices]:
            raise typer.BadParameter(f"{', '.join(unknown)}: not one of {', '.join(choices)}")
        return value

    return check


class App(typer.Typer):
    """A command group: help when called bare, its commands built as `Command`."""

    def __init__(self, **options):
        super().__init__(cls=Group, no_args_is_help=True, pretty_exceptions_enable=False, **options)

    def command(self, *args, **options):
        return super().command(*args, cls=options.pop("cls", Command), **options)
