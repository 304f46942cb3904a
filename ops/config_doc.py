"""The README's configuration table, made from the settings classes so it cannot drift."""
from __future__ import annotations

import re
from pathlib import Path

from pydantic import SecretStr

from common.paths import REPO_ROOT
from ops.all_settings import SERVICE_SETTINGS, AllSettings

START, END = "<!-- config-table -->", "<!-- /config-table -->"


def readers() -> dict[str, list[str]]:
    """Field name -> the services that read (and so are stopped by a bad value of) it."""
    found: dict[str, list[str]] = {}
    for service, settings in SERVICE_SETTINGS.items():
        for section in settings.section_types().values():
            for name in section.model_fields:
                if service not in found.setdefault(name, []):
                    found[name].append(service)
    return found


def config_table() -> str:
    read_by = readers()
    rows = ["| variable | default | read by | meaning |", "|---|---|---|---|"]
    for section in AllSettings.section_types().values():
        for name, field in section.model_fields.items():
            default = field.default_factory() if field.default_factory is not None else field.default
            if default is None or default == [] or default == ():
                shown = ""
            elif isinstance(default, SecretStr):
                shown = ""
            elif isinstance(default, Path):
                shown = str(default.relative_to(REPO_ROOT)) if default.is_relative_to(REPO_ROOT) else str(default)
            else:
                shown = str(default)
            shown = f"`{shown}`" if shown not in ("", "[]") else "(empty)"
            services = read_by.get(name, [])
            who = "all" if len(services) == len(SERVICE_SETTINGS) else ", ".join(services)
            rows.append(f"| `ATCS_{name.upper()}` | {shown} | {who} | {field.description or ''} |")
    return "\n".join(rows)


def render_readme(text: str) -> str:
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    return pattern.sub(f"{START}\n{config_table()}\n{END}", text)


def main() -> None:
    readme = REPO_ROOT / "README.md"
    readme.write_text(render_readme(readme.read_text()))


if __name__ == "__main__":
    main()
