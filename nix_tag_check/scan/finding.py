"""What a scan reports of one manifest: each reference to a configured image (Finding) and
each name no rule reads a tag of (Unread), against what each image's references must say
(Expected).

Apart from the rules' Context (rules/context.py): a finding restored from the scan cache
needs neither the rules nor their walk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nix_tag_check.config.reference import Repository
from nix_tag_check.errors import ScanError

if TYPE_CHECKING:  # a finding restored from the scan cache needs no edit code
    from nix_tag_check.scan import edits


@dataclass(frozen=True)
class Expected:
    """What a configured image's references must say."""

    name: str  # as configured
    repository: Repository
    tag: str
    source: str  # where the tag came from, e.g. "default.nix#image"


@dataclass
class Finding:
    """One place that references a configured image."""

    line: int  # 1-based
    column: int  # 1-based
    image: str
    found: str | None  # the tag as written; None when there is none
    expected: str
    source: str
    kind: str  # image | kustomize | helm | parameter | marker | text
    digest: str | None = None
    digest_emptied: bool = False  # the digest's key stays, with an empty value
    edits: list[edits.Edit] = field(default_factory=list)
    unfixable: ScanError | None = None  # why --fix cannot rewrite this stale one in place
    # From the scan cache: stale, but its edits were not kept (a fix parses the file again).
    restored_stale: bool = False
    ignored: bool = False  # its line ends in `# nix-tag-check: ignore`: left as it is

    @property
    def stale(self) -> bool:
        if self.ignored:
            return False
        return bool(self.edits) or self.unfixable is not None or self.restored_stale

    def ignore(self) -> None:
        """Leave this reference alone: nothing to report as stale, nothing to write."""
        self.ignored = True
        self.edits.clear()
        self.unfixable = None


@dataclass
class Unread:
    """A configured image named where no rule reads a tag: `repo:${TAG}`, `repo` alone.

    Said with -v, and warned about when its file holds no reference of that image that is
    read: the user learns to mark the value (`# nix-tag-check: IMAGE`) or to ignore it.
    """

    line: int  # 1-based
    column: int  # 1-based
    image: str
    written: str  # the name as written, and what follows it up to a blank or a quote
    ignored: bool = False  # its line ends in `# nix-tag-check: ignore`
