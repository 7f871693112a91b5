"""``mesosweep completion bash|zsh``: a shell completion script, printed.

The script is written from the command line's own parser (every command, action, option and
choice as ``mesosweep --help`` knows them), so it never falls behind the commands. Commands
and actions complete by name, options after a ``-``, choices where an option or argument has
them, and file names everywhere else. zsh runs the bash function through its
``bashcompinit``, which every zsh ships.
"""

from __future__ import annotations

import argparse
import shlex

SHELLS = ("bash", "zsh")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "completion", help="print a shell completion script (bash or zsh)",
        description="Print a script that lets the shell complete mesosweep's commands, "
                    "options, choices and file names as you type.",
        epilog="bash: add `eval \"$(mesosweep completion bash)\"` to ~/.bashrc. zsh: add "
               "`eval \"$(mesosweep completion zsh)\"` to ~/.zshrc (after compinit). Or write "
               "it once to a file and source that: `mesosweep completion bash > "
               "~/.local/share/bash-completion/completions/mesosweep`.")
    p.add_argument("shell", choices=SHELLS, help="the shell the script is for")


def _tables(parser: argparse.ArgumentParser) -> dict[str, dict[str, str]]:
    """Per command path ('mesosweep', 'mesosweep particles build' …): its sub-commands, its
    options, the options that take a value, the choices of each such option and of its
    arguments. Words, space-separated."""
    tables: dict[str, dict[str, str]] = {k: {} for k in ("cmds", "opts", "args", "choices",
                                                          "pos")}

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        opts, args, positional = [], [], []
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                tables["cmds"][path] = " ".join(action.choices)
                for name, child in action.choices.items():
                    walk(child, f"{path} {name}")
            elif action.option_strings:
                opts += action.option_strings
                if action.nargs != 0:
                    args += action.option_strings
                    if action.choices:
                        for option in action.option_strings:
                            tables["choices"][f"{path} {option}"] = " ".join(
                                str(c) for c in action.choices)
            elif action.choices:
                positional += [str(c) for c in action.choices]
        tables["opts"][path] = " ".join(opts)
        tables["args"][path] = " ".join(args)
        if positional:
            tables["pos"][path] = " ".join(positional)

    walk(parser, parser.prog)
    return tables


def bash_script(parser: argparse.ArgumentParser) -> str:
    """The bash completion function of ``parser``'s program, and its registration."""
    lines = ["# mesosweep completion (written by `mesosweep completion`)"]
    for name, table in _tables(parser).items():
        lines.append(f"declare -gA _mesosweep_{name}=(")
        lines += [f"  [{shlex.quote(k)}]={shlex.quote(v)}" for k, v in sorted(table.items())]
        lines.append(")")
    lines.append(_FUNCTION)
    return "\n".join(lines) + "\n"


# Finds the command path among the words typed so far, then offers: the choices of the option
# just typed, file names for any other option's value, options after a '-', the next command
# or action, else the argument's choices and file names.
_FUNCTION = r"""_mesosweep() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" path=mesosweep i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${COMP_WORDS[i]}"
    if [[ " ${_mesosweep_cmds[$path]} " == *" $w "* ]]; then
      path="$path $w"
    fi
  done
  local key="$path $prev"
  if [[ -n "${_mesosweep_choices[$key]}" ]]; then
    COMPREPLY=($(compgen -W "${_mesosweep_choices[$key]}" -- "$cur"))
  elif [[ " ${_mesosweep_args[$path]} " == *" $prev "* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "${_mesosweep_opts[$path]}" -- "$cur"))
  elif [[ -n "${_mesosweep_cmds[$path]}" ]]; then
    COMPREPLY=($(compgen -W "${_mesosweep_cmds[$path]}" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "${_mesosweep_pos[$path]}" -- "$cur") $(compgen -f -- "$cur"))
  fi
}
complete -o filenames -o bashdefault -F _mesosweep mesosweep"""


def zsh_script(parser: argparse.ArgumentParser) -> str:
    """The bash function, through zsh's bashcompinit."""
    return ("# mesosweep completion for zsh, through bashcompinit (needs compinit first)\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(parser))


def run(args: argparse.Namespace) -> int:
    from mesosweep.cli import _parser  # noqa: PLC0415 - the whole parser, built on demand

    parser = _parser()[0]
    print(bash_script(parser) if args.shell == "bash" else zsh_script(parser), end="")
    return 0
