"""Settings package: ``core.settings.<ENVIRONMENT>`` is chosen by ``core.env.settings_module()``."""
