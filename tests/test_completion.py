"""`mesosweep completion bash|zsh`: scripts that complete commands, options, choices and files,
run in the real shells as their completion systems call them."""

import shutil
import subprocess
import sys

import pytest

BASH_CALL = """source {script}
t() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
  _mesosweep; echo "${{COMPREPLY[*]}}"; }}
"""
# zsh calls a bash completion function through bashcompinit's compgen -F, in sh emulation
# (0-based arrays); its own matching then filters the words by what was typed.
ZSH_CALL = """autoload -U compinit && compinit -u
source {script}
t() {{ emulate -L sh; setopt kshglob noshglob braceexpand
  COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _mesosweep; echo "${{COMPREPLY[*]}}"; }}
"""
CASES = (  # words typed (the last one being completed) -> what bash offers
    (("mesosweep", "st"), "status"),
    (("mesosweep", "-v", "sta"), "status"),
    (("mesosweep", "status", "--wa"), "--watch"),
    (("mesosweep", "particles", "b"), "build"),
    (("mesosweep", "xct", "measure", "--cbd-as", ""), "pore solid"),
    (("mesosweep", "completion", "z"), "zsh"),
    (("mesosweep", "status", "--watch", "s"), "store.zarr sweep.toml"),
    (("mesosweep", "report", "sweep.toml", "-o", "st"), "store.zarr"),
)


def _script(tmp_path, shell: str):
    out = subprocess.run([sys.executable, "-m", "mesosweep.cli", "completion", shell],
                         capture_output=True, text=True, check=True)
    path = tmp_path / f"mesosweep.{shell}"
    path.write_text(out.stdout)
    (tmp_path / "sweep.toml").touch()
    (tmp_path / "store.zarr").mkdir()
    return path


def _offers(shell: str, call: str, cwd) -> list[list[str]]:
    """What the completion function offers for each case, sorted."""
    lines = [call] + [" ".join(["t", *(f"'{w}'" for w in words)]) for words, _ in CASES]
    out = subprocess.run([shell, "-c", "\n".join(lines)], capture_output=True, text=True,
                         check=True, cwd=cwd)
    return [sorted(line.split()) for line in out.stdout.splitlines()]


def test_bash_completes_commands_options_choices_and_files(tmp_path):
    script = _script(tmp_path, "bash")
    offered = _offers("bash", BASH_CALL.format(script=script), tmp_path)
    assert offered == [sorted(want.split()) for _, want in CASES]


@pytest.mark.skipif(shutil.which("zsh") is None,
                    reason="zsh is not installed (apt-get install zsh)")
def test_zsh_offers_the_same_words_through_bashcompinit(tmp_path):
    script = _script(tmp_path, "zsh")
    offered = _offers("zsh", ZSH_CALL.format(script=script), tmp_path)
    for (words, want), got in zip(CASES, offered, strict=True):
        typed = words[-1]
        # zsh filters by the prefix itself: the words that match it are bash's answer.
        assert [w for w in got if w.startswith(typed)] == sorted(want.split()), words
