"""The comparison report of a sweep: the paper's figures for the ensemble, and an HTML page.

:mod:`report.figures` draws each figure from the store (matplotlib, Agg canvas);
:mod:`report.html` writes them with the comparison tables into one ``index.html``
(``mesosweep report STORE -o DIR``; docs/comparison.md). Nothing here runs while a sweep runs.
"""

from mesosweep._lazy import lazy_api

__getattr__, __dir__, __all__ = lazy_api(__name__, {
    "FIGURES": "figures",
    "FigureResult": "figures",
    "all_figures": "figures",
    "build_report": "html",
    "find_xct": "html",
})
