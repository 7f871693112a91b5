"""What may reach a batch job script or a worker's command line, checked before anything is
submitted.

A job script is a shell script whose header lines (``#SBATCH``, ``#PBS``, ``#$``, ``#BSUB``) the
batch system reads as options. A newline in any value would start a line of its own (another
directive, or a command the shell runs); a shell metacharacter would chain, redirect or
substitute a command. So every string a spec puts into a job script or a launcher's argv is
one of two shapes:

- a **word** (a directive's option, a launcher's argument, a path): only
  :data:`WORD_CHARS`, no space;
- a **prologue line**: one simple command of words separated by spaces, with ``$NAME`` and
  ``${NAME}`` expansions, and nothing that chains, redirects, substitutes, quotes or comments.

Pure functions, no Dask: spec validation uses them, and the backends check the paths of this
machine (the Python that runs the worker, the work folder) with them before writing a script.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["WORD_CHARS", "WORD_RULE", "PROLOGUE_RULE", "DIRECTIVE_PREFIXES", "word_problem",
           "prologue_problem"]

#: Characters of a word: none is special to a POSIX shell or splits a directive.
WORD_CHARS = "A-Za-z0-9_.,:=/+@%-"
WORD_RULE = "one word of A-Z a-z 0-9 _ . , : = / + @ % -"
_WORD = re.compile(f"[{WORD_CHARS}]+")
#: The prefixes that make a line of a job script a batch-system directive.
DIRECTIVE_PREFIXES = ("#SBATCH", "#PBS", "#$", "#BSUB")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# A simple command: words, spaces, ~ and $NAME / ${NAME} expansions (the class ends with -,
# a literal: anything after it would make a range).
_PROLOGUE = re.compile(rf"(?:[~ {WORD_CHARS}]|\${_NAME}|\$\{{{_NAME}\}})*")
PROLOGUE_RULE = ("one simple command: words of A-Z a-z 0-9 _ . , : = / + @ % - ~ separated by "
                 "spaces, with $NAME or ${NAME}; no ; & | < > ( ) ` ' \" \\ * ? [ ] ! #, "
                 "newline or control character")
# A first word after which the worker's command would never run.
_ENDS_THE_JOB = ("exec", "exit", "logout", "return")


def _control(text: str) -> str | None:
    """The first control character of ``text`` (a newline, a tab …), as an escape; else None."""
    for c in text:
        if unicodedata.category(c) == "Cc" or c in "\u2028\u2029":
            return repr(c)[1:-1]
    return None


def word_problem(text: str) -> str | None:
    """Why ``text`` cannot be one word of a job script or an argv (None: it can)."""
    if not text:
        return "it is empty"
    control = _control(text)
    if control is not None:
        return f"it holds a control character ({control}), which would start a line of its own"
    if text.startswith("#"):
        return "it starts with '#', a comment or a batch directive"
    if _WORD.fullmatch(text) is None:
        bad = next(c for c in text if not re.fullmatch(f"[{WORD_CHARS}]", c))
        what = "a space" if bad.isspace() else f"{bad!r}"
        return f"it holds {what}; expected {WORD_RULE}"
    return None


def prologue_problem(line: str) -> str | None:
    """Why ``line`` cannot be a line of a job script's prologue (None: it can)."""
    control = _control(line)
    if control is not None:
        return (f"it holds a control character ({control}); give each line as its own string, "
                f"one command each")
    stripped = line.strip()
    if not stripped:
        return "it is empty; remove it"
    if stripped.startswith("#"):
        kind = ("a batch directive" if stripped.startswith(DIRECTIVE_PREFIXES) else "a comment")
        return (f"it is {kind}; directives belong in cluster.job_extra_directives (without "
                f"their prefix), and a prologue holds commands")
    if stripped.split()[0] in _ENDS_THE_JOB:
        return f"'{stripped.split()[0]}' would end the job before its worker starts"
    good = _PROLOGUE.match(stripped).end()  # the longest well-formed start
    if good < len(stripped):
        return f"it holds {stripped[good]!r} at character {good + 1}; expected {PROLOGUE_RULE}"
    return None
