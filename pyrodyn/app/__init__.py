"""The application layer: command line, config schema, factory, run directories and commands.

``cli`` (the ``pyrodyn`` command), ``config`` (the YAML schema; ``migrate`` brings configs of
older versions up to date), ``factory`` (the only place strings become objects), ``assemble``
(a config -> data, model, objective, fit arguments), ``rundir`` (:func:`~pyrodyn.app.rundir.
load_run`, also ``pyrodyn.load_run``) and one module per command: ``fitrun``, ``generate``,
``encode``, ``evaluate`` / ``static_evaluation``, ``diagnose``, ``demo``.

The library (everything else in pyrodyn) never imports this package; ``make test`` checks that
with import-linter (``[tool.importlinter]`` in pyproject.toml).
"""
