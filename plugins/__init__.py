"""dispatchd's built-in plugins: the default answer of every policy hook.

Each module is an ordinary plugin, registered by name by
:func:`dispatchd.pluginmanager.get_plugin_manager`; its implementations are
``trylast``, so any installed plugin answers first. Block one with
``DISPATCHD_DISABLE_PLUGINS=<name>``.
"""
