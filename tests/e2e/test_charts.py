"""Values files of real charts, trimmed, through main() and real Nix: each image shape as
its chart reads it, fixed to exact bytes, every stale tag and digest said.

tests/fixtures/charts/NAME.yaml is the values file, NAME.fixed.yaml what `--fix` must
write, NAME.findings what a check prints. The images are named as the charts name them
and have fixed tags (charts/default.nix), so the expected bytes never depend on Nix.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, git

from nix_tag_check.main import main

CHARTS = FIXTURES / "charts"
IMAGES = {  # fixture -> the images it configures: (name as configured, default.nix attribute)
    "ingress_nginx": [("registry.k8s.io/ingress-nginx/controller", "ingress-nginx")],
    "ingress_nginx_global": [("registry.k8s.io/ingress-nginx/controller", "ingress-nginx")],
    "bitnami_redis": [("docker.io/bitnami/redis", "redis"),
                      ("docker.io/bitnami/redis-sentinel", "redis-sentinel")],
    "traefik": [("traefik", "traefik")],
    "argo_workflows": [("debian", "debian")],
    "kube_prometheus_stack": [("quay.io/prometheus/prometheus", "prometheus"),
                              ("quay.io/prometheus/alertmanager", "alertmanager")],
}


@pytest.fixture
def charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Git repository holding the chart values files and their Nix expression, as the cwd."""
    root = tmp_path / "charts"
    root.mkdir()
    shutil.copy(CHARTS / "default.nix", root)
    for name in IMAGES:
        shutil.copy(CHARTS / f"{name}.yaml", root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "charts")
    monkeypatch.chdir(root)
    return root


def _args(name: str) -> list[str]:
    images = [("--image", f"{image}=default.nix#{attr}") for image, attr in IMAGES[name]]
    return [arg for pair in images for arg in pair] + [f"{name}.yaml"]


@pytest.mark.parametrize("name", IMAGES)
def test_check_says_every_stale_tag_and_digest(
    charts: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(name)) == 1
    assert capsys.readouterr().out == (CHARTS / f"{name}.findings").read_text()


@pytest.mark.parametrize("name", IMAGES)
def test_fix_writes_exactly_the_expected_bytes(charts: Path, name: str) -> None:
    assert main(["--fix", *_args(name)]) == 1
    assert (charts / f"{name}.yaml").read_bytes() == (CHARTS / f"{name}.fixed.yaml").read_bytes()


@pytest.mark.parametrize("name", IMAGES)
def test_check_after_fix_exits_0(
    charts: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--fix", *_args(name)])
    capsys.readouterr()
    assert main(_args(name)) == 0
    assert capsys.readouterr().out == ""


def test_fix_says_the_digest_it_emptied(charts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--fix", *_args("ingress_nginx")])
    assert capsys.readouterr().out == (
        "ingress_nginx.yaml:29:10: registry.k8s.io/ingress-nginx/controller: tag 'v1.11.2' -> "
        "'d02ag139pg7mxnirhnfdnlfksfxsz5xp' (default.nix#ingress-nginx); digest emptied\n"
    )
