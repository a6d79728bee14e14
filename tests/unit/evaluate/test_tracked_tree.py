"""The private tree: the tracked paths it holds, copies that leave the originals, one path."""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from pathlib import Path

import pytest

from nix_tag_check.errors import EvalError
from nix_tag_check.evaluate import tracked_tree
from nix_tag_check.evaluate.tracked_tree import Tree, View, placed, private_tree

FILES = {
    "default.nix": "import ./src\n",
    "src/main.go": "package main\n",
    "src/sub/util.go": "package sub\n",
    "src/run.sh": "#!/bin/sh\n",
    "shared/x.txt": "shared\n",
    "v2/default.nix": "import ../common.nix\n",
    "v2/data.txt": "v2\n",
    "common.nix": "1\n",
    "real/data.txt": "data\n",
    "other/unreached.txt": "nobody names me\n",
}
LINKS = {"src/out": "../shared/x.txt", "current": "v2", "data.txt": "real/data.txt",
         "self": ".", "away": "../../elsewhere"}
UNTRACKED = {"untracked.txt": "not added\n", "src/wip.go": "not added\n"}


@pytest.fixture
def view(tmp_path: Path) -> View:
    root = tmp_path / "repo"
    for rel, text in {**FILES, **UNTRACKED}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "src/run.sh").chmod(0o755)
    for rel, target in LINKS.items():
        (root / rel).symlink_to(target)
    return View.of(str(root), frozenset(FILES) | frozenset(LINKS))


@pytest.mark.parametrize(("reached", "holds"), [
    (["default.nix"], {"default.nix"}),
    (["src"], {"src/main.go", "src/sub/util.go", "src/run.sh", "src/out", "shared/x.txt"}),
    (["src/sub"], {"src/sub/util.go"}),
    (["current/default.nix"], {"current", "v2/default.nix"}),
    (["current"], {"current", "v2/default.nix", "v2/data.txt"}),
    (["data.txt"], {"data.txt", "real/data.txt"}),
    (["away"], {"away"}),
    (["self/common.nix"], {"self", "common.nix"}),
])
def test_a_tree_holds_what_is_reached_with_the_links_on_its_way(
    view: View, reached: list[str], holds: set[str]
) -> None:
    assert placed(view, reached) == holds


@pytest.mark.parametrize("reached", [["untracked.txt"], ["missing.nix"], ["src/wip.go"], []])
def test_an_untracked_or_absent_path_brings_nothing(view: View, reached: list[str]) -> None:
    assert placed(view, reached) == frozenset()


@pytest.mark.parametrize("reached", [[""], ["self"], ["src", "self"]])
def test_the_root_reached_means_every_tracked_file(view: View, reached: list[str]) -> None:
    assert placed(view, reached) is None


def _trees(view: View) -> str:
    return os.path.join(view.root, ".git", "nix-tag-check", "trees")


def _listed(root: str) -> set[str]:
    """Files and links (to folders too) below `root`."""
    found = set()
    for folder, dirs, names in os.walk(root):
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        found.update(os.path.relpath(os.path.join(folder, n), root) for n in [*names, *links])
    return found


def test_the_tree_holds_a_reached_file_and_not_an_unreached_one(view: View) -> None:
    holds = placed(view, ["default.nix", "src"])
    with private_tree(view, holds, _trees(view)) as tree:
        assert _listed(tree.root) == holds
        assert os.path.isfile(os.path.join(tree.root, "src/main.go"))
        assert not os.path.lexists(os.path.join(tree.root, "other/unreached.txt"))


def test_copies_have_the_contents_executable_bits_and_links_of_the_originals(
    view: View
) -> None:
    with private_tree(view, None, _trees(view)) as tree:
        assert _listed(tree.root) == set(FILES) | set(LINKS)
        for rel in FILES:
            copy, original = Path(tree.root, rel), Path(view.root, rel)
            assert copy.read_bytes() == original.read_bytes()
            assert os.access(copy, os.X_OK) == os.access(original, os.X_OK)
            assert not os.path.samefile(copy, original)
        for rel, target in LINKS.items():
            assert os.readlink(os.path.join(tree.root, rel)) == target


def _identities(root: str) -> dict[str, tuple[int, ...]]:
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            found[os.path.join(folder, name)] = (
                st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_nlink)
    return found


def test_making_a_tree_leaves_every_original_s_stat_identity(view: View) -> None:
    Path(view.root, "src/big.bin").write_bytes(os.urandom(3 << 20))
    whole = View.of(view.root, frozenset(view.tracked or ()) | {"src/big.bin"})
    before = _identities(view.root)
    with private_tree(whole, None, _trees(whole)) as tree:
        assert Path(tree.root, "src/big.bin").read_bytes() == Path(view.root, "src/big.bin") \
            .read_bytes()
        assert {k: v for k, v in _identities(view.root).items()
                if not k.startswith(_trees(view))} == before


@pytest.mark.parametrize(("link", "clone", "ranged"), [
    (True, False, False), (False, True, True), (False, False, True), (False, False, False)])
@pytest.mark.parametrize("size", [0, 5, (3 << 20) + 7])
def test_every_way_of_copying_copies_the_bytes(
    tmp_path: Path, link: bool, clone: bool, ranged: bool, size: int
) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(os.urandom(size))
    copier = tracked_tree.Copier(link)
    copier.clone, copier.ranged = clone and copier.clone, ranged and copier.ranged
    copier.copy(str(source), str(target))
    assert target.read_bytes() == source.read_bytes()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_original_gives_a_copy_nix_cannot_read_either(view: View) -> None:
    Path(view.root, "src/main.go").chmod(0)
    with private_tree(view, frozenset({"src/main.go"}), _trees(view)) as tree:
        copy = Path(tree.root, "src/main.go")
        assert copy.stat().st_mode & 0o777 == 0
        with pytest.raises(PermissionError):
            copy.read_bytes()


def test_the_tree_lies_at_the_same_path_every_time_and_is_removed(view: View) -> None:
    roots = []
    for _ in range(2):
        with private_tree(view, frozenset({"default.nix"}), _trees(view)) as tree:
            roots.append(tree.root)
    assert roots == [os.path.join(_trees(view), "a", "repo")] * 2
    assert sorted(os.listdir(_trees(view))) == ["a.lock"]


def test_a_second_slot_is_a_second_root_at_another_path_and_name(view: View) -> None:
    holds = frozenset({"default.nix"})
    with private_tree(view, holds, _trees(view)) as first, \
            private_tree(view, holds, _trees(view), slot="b", name="elsewhere") as second:
        assert second.root == os.path.join(_trees(view), "b", "elsewhere")
        assert _listed(first.root) == _listed(second.root) == holds
    assert sorted(os.listdir(_trees(view))) == ["a.lock", "b.lock"]


def _leftover(trees: str, slot: str) -> Path:
    tree = Path(trees, slot, "repo")
    tree.mkdir(parents=True)
    (tree / "left.txt").write_text("a killed run's\n")
    Path(trees, f"{slot}.lock").touch()
    return tree


def test_trees_left_by_killed_runs_are_removed(view: View) -> None:
    left = [_leftover(_trees(view), slot) for slot in ("a", "b")]
    with private_tree(view, frozenset({"default.nix"}), _trees(view)) as tree:
        assert not os.path.lexists(os.path.join(tree.root, "left.txt"))
        assert not left[1].parent.exists()


def test_a_tree_whose_lock_is_held_is_left_alone(view: View) -> None:
    held = _leftover(_trees(view), "b")
    with open(os.path.join(_trees(view), "b.lock")) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with private_tree(view, frozenset({"default.nix"}), _trees(view)):
            assert (held / "left.txt").exists()


def test_old_random_trees_are_removed_once_an_hour_old(view: View) -> None:
    trees = Path(_trees(view))
    for name in ("tree-killed", "tree-running"):
        (trees / name / "repo").mkdir(parents=True)
    os.utime(trees / "tree-killed", (0, 0))
    with private_tree(view, frozenset({"default.nix"}), str(trees)):
        pass
    assert sorted(os.listdir(trees)) == ["a.lock", "tree-running"]


def test_a_second_run_waits_until_the_first_lets_its_tree_go(view: View) -> None:
    held = _leftover(_trees(view), "a")
    waiting = threading.Event()
    seen: list[bool] = []

    def second_run() -> None:
        with private_tree(view, frozenset({"default.nix"}), _trees(view),
                          waiting=lambda _: waiting.set()) as tree:
            seen.append(os.path.isfile(os.path.join(tree.root, "default.nix")))

    with open(os.path.join(_trees(view), "a.lock")) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        second = threading.Thread(target=second_run)
        second.start()
        waiting.wait()
        assert (held / "left.txt").exists() and not seen
    second.join()
    assert seen == [True]


@pytest.mark.parametrize(("message", "missing"), [
    ("error: getting status of '{repo}/common.nix': No such file or directory", "common.nix"),
    ("error: getting status of '{tree}/common.nix': No such file or directory", "common.nix"),
    ("error: opening file '{repo}/current/../other/unreached.txt'", "other/unreached.txt"),
    ("error: path '{repo}/v2' does not exist", "v2"),
])
def test_a_message_naming_a_tracked_path_left_out_asks_for_every_file(
    view: View, message: str, missing: str
) -> None:
    tree = Tree("/trees/a/repo", view, frozenset({"default.nix", "src/main.go"}))
    assert tree.left_out(message.format(repo=view.root, tree=tree.root)) == missing


@pytest.mark.parametrize("message", [
    "error: getting status of '{repo}/untracked.txt': No such file or directory",
    "error: getting status of '{repo}/src/main.go': Permission denied",
    "error: getting status of '/elsewhere/common.nix': No such file or directory",
    "error: undefined variable 'common' at {repo}/default.nix:1:1",
])
def test_a_message_naming_nothing_left_out_is_nix_s_own(view: View, message: str) -> None:
    tree = Tree("/trees/a/repo", view, frozenset({"default.nix", "src/main.go"}))
    assert tree.left_out(message.format(repo=view.root)) is None


def test_a_tree_of_every_file_never_asks_again(view: View) -> None:
    message = f"error: getting status of '{view.root}/common.nix': No such file or directory"
    assert Tree("/trees/a/repo", view, None).left_out(message) is None


def test_trees_go_to_a_private_temporary_folder_when_the_state_folder_is_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first = tracked_tree.temporary_trees("/some/repo/.git")
    assert first == tracked_tree.temporary_trees("/some/repo/.git")
    assert first != tracked_tree.temporary_trees("/other/repo/.git")
    assert (tmp_path / f"nix-tag-check-{os.getuid()}").stat().st_mode & 0o777 == 0o700


def test_a_shared_temporary_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / f"nix-tag-check-{os.getuid()}").mkdir(mode=0o777)
    os.chmod(tmp_path / f"nix-tag-check-{os.getuid()}", 0o777)
    with pytest.raises(EvalError, match="not a folder of this user's alone"):
        tracked_tree.temporary_trees("/some/repo/.git")


def test_a_tree_that_cannot_be_made_is_one_clear_error(view: View, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder\n")
    with pytest.raises(EvalError, match="cannot make the private tree of tracked files"), \
            private_tree(view, None, str(blocker / "trees")):
        pass
