"""Rendering Nightjar's pages and documents from Jinja2 templates kept beside their code.

Each package that renders something keeps its templates in its own ``templates/`` folder
(shipped as package data). HTML templates escape every value; a name the template uses
and the caller did not pass is an error, not an empty string.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2


@cache
def _environment(package: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(package: str, template: str, **context: Any) -> str:
    """``template`` from ``package``'s ``templates/`` folder, rendered with ``context``."""
    return _environment(package).get_template(template).render(**context)
