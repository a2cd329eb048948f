"""voicegw.yaml: where it is found, what it may contain, and how it is checked.

``load_config()`` returns a validated :class:`Config` or raises one :class:`ConfigError` listing
every problem of the file with its line. API keys are :class:`Secret` values, read from ``${VAR}``
references only when a provider is used, so an unset key breaks only the provider that needs it.
"""

from voicegateway.config.env import MissingEnvError, Secret
from voicegateway.config.errors import ConfigError, ConfigIssue, UnknownProjectError
from voicegateway.config.loader import find_config_path, load_config, starter_yaml
from voicegateway.config.schema import (
    BudgetConfig,
    Config,
    ProjectConfig,
    ProviderSettings,
    StorageConfig,
)

__all__ = [
    "BudgetConfig",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "MissingEnvError",
    "ProjectConfig",
    "ProviderSettings",
    "Secret",
    "StorageConfig",
    "UnknownProjectError",
    "find_config_path",
    "load_config",
    "starter_yaml",
]
