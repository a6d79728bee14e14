"""A configured image no checked file references: the closest repository they do reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from nix_tag_check.config.load import Config, ImageSpec
from nix_tag_check.config.reference import parse_repository
from nix_tag_check.evaluate.groups import Evaluated
from nix_tag_check.gate import completeness

MANIFEST = ("containers:\n  - image: ghcr.io/acme/api:v1.2\n"
            "  - image: ghcr.io/acme/worker:latest\n  - image: docker.io/library/nginx:1.27\n")


def _message(tmp_path: Path, name: str) -> str:
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(MANIFEST)
    spec = ImageSpec(name, parse_repository(name), "auto", "x86_64-linux", ("api",),
                     "default.nix#api", str(tmp_path / "default.nix"), line=2)
    config = Config(str(tmp_path), str(tmp_path / ".nix-tag-check.yaml"), (spec,))
    [gap] = completeness.unreferenced(config, [Evaluated(spec, "0" * 32, "/nix/store/x")],
                                      set(), 1, [str(manifest)])
    return gap.message


@pytest.mark.parametrize(("name", "suggested"), [
    ("ghcr.io/acme/apii", "did you mean 'ghcr.io/acme/api'? check its name"),
    ("ghcr.io/acme/wroker", "did you mean 'ghcr.io/acme/worker'? check its name"),
    ("quay.io/other/thing", "); check its name"),
])
def test_a_misspelt_image_name_suggests_the_closest_repository_referenced(
    tmp_path: Path, name: str, suggested: str
) -> None:
    assert suggested in _message(tmp_path, name)
