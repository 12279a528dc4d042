"""The registry side: finding ``@register``-marked task plugins, calling them, reloading them.

:mod:`.marks` is the decorator (it only marks), :mod:`.lookup` names and imports modules,
:mod:`.plugin_entries` and :mod:`.loader` keep one immutable entry per loaded module,
:mod:`.reload` describes what a reload changed, :mod:`.registry` is the :class:`Registry` users
hold (``dioptra_plugins.pyplugs`` is its Dioptra-compatible face), :mod:`.watcher` and
:mod:`.module_files` turn file-system events into reloads, :mod:`.workflows` runs tasks under
Prefect, and :mod:`.task_listing` lists a plugin dir's tasks.
"""
