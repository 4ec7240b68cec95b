"""The mail templates: Jinja2 files beside this module, a subject, a text and an HTML part each.

Undefined variables are errors, so a missing variable is caught when the API renders the
submission, not in the worker; HTML parts are autoescaped.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    select_autoescape,
)

TEMPLATES = Path(__file__).parent / "templates"
PARTS = ("subject", "txt", "html")


class TemplateProblem(ValueError):
    """An unknown template or a variable it needs is missing."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


# Templates ship with the code: read once, never looked for again on the disk (an API renders
# each message it accepts).
@cache
def names() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in TEMPLATES.glob("*.subject")))


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        auto_reload=False,
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        keep_trailing_newline=True,
    )


def render(name: str, variables: dict[str, Any]) -> Rendered:
    if name not in names():
        raise TemplateProblem(f"unknown template {name!r}; known: {', '.join(names())}")
    try:
        subject, text, html = (
            _environment().get_template(f"{name}.{part}").render(variables) for part in PARTS
        )
    except TemplateNotFound as exc:
        raise TemplateProblem(f"template {name!r} lacks its {exc.name} part") from exc
    except TemplateError as exc:  # StrictUndefined: "'name' is undefined"
        raise TemplateProblem(f"template {name!r}: {exc.message}") from exc
    return Rendered(subject=subject.strip(), text=text, html=html)
