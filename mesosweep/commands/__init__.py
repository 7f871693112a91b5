"""Subcommands of ``mesosweep``: one module each, with ``add_parser(sub)`` and ``run(args)``.

``COMMANDS`` lists the modules in the order ``--help`` shows them; a module imports its heavy
dependencies inside ``run`` so that ``--help`` stays fast.
"""

COMMANDS = ("init", "run", "doctor", "status", "particles", "xct", "report", "spec", "export",
            "completion")
