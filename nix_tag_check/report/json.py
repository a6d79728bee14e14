"""For a program: one JSON document at the end, `{"findings", "errors", "warnings"}`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TextIO

from nix_tag_check.report.base import Reporter, record
from nix_tag_check.report.mode import Mode

if TYPE_CHECKING:  # types only: a report imports no scanning code
    from nix_tag_check.evaluate.groups import Evaluated
    from nix_tag_check.scan.finding import Finding


class JsonReporter(Reporter):
    def __init__(self, mode: Mode, out: TextIO, err: TextIO) -> None:
        super().__init__(mode, out, err)
        self.records: list[dict[str, object]] = []  # only JSON prints them at the end
        self.printed: list[dict[str, object]] = []  # --print-expected's images

    def show_finding(self, path: str, finding: Finding, message: str) -> None:
        self.records.append(record(path, finding, self.mode.fixing))

    def info(self, message: str) -> None:
        """Nothing: stdout is the document, and verbose chatter would only be noise."""

    def expected(self, item: Evaluated) -> None:
        """--print-expected: what a pipeline step needs to build and push exactly that image."""
        spec = item.spec
        self.printed.append({
            "name": spec.name, "tag": item.tag, "reference": f"{spec.name}:{item.tag}",
            "source": spec.source, "out_path": item.out_path,
            "drv_path": item.drv_path, "system": spec.system,
        })

    def finish(self, files: int) -> None:
        document: dict[str, object] = (
            {"findings": self.records} if self.mode.action != "print-expected"
            else {"expected": self.printed})
        document.update(errors=self.errors, warnings=self.warnings)
        if self.mode.registry:
            document["registry"] = self.registry
        json.dump(document, self.out, indent=2)
        self.out.write("\n")
