"""Which OCIO config a run uses: the explicit `--ocio` value, else `$OCIO`, else the bundled config.

Loaded configs are cached per path (and modification time) or `ocio://` name, so a host that mattes
many shots in one session parses each config once.
"""
from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import PyOpenColorIO as OCIO

from bgmatte.errors import InputError

log = logging.getLogger(__name__)

BUILTIN_PREFIX = "ocio://"

# What OCIO raises for a bad config: its own exception, and (not derived from it) a file that a
# transform references but that is not there, e.g. a LUT missing next to the config.
OCIO_ERRORS = (OCIO.Exception, OCIO.ExceptionMissingFile)
_MISSING_FILE = re.compile(r"file reference '(?P<file>.+?)' could not be located\.?"
                           r"(?:.*?attempts were made:\s*(?P<tried>.+?))?\.?\s*$", re.S)


@dataclass(frozen=True)
class ResolvedConfig:
    """A loaded OCIO config and where it came from.

    Attributes:
        config: the loaded `PyOpenColorIO.Config` (shared through the cache: do not edit it).
        source: absolute path of the config file, or its `ocio://` built-in name; written into
            output metadata so a render says which config it used.
    """

    config: OCIO.Config
    source: str

    @property
    def is_bundled(self) -> bool:
        """True when this is bgmatte's own config (`ocio/config.ocio`)."""
        return self.config is bundled_config().config


def bundled_config_path() -> Path:
    """Path of bgmatte's own config (`bgmatte/ocio/config.ocio`, the repository's `ocio/` folder)."""
    return Path(str(resources.files("bgmatte") / "ocio" / "config.ocio"))


def bundled_config() -> ResolvedConfig:
    """bgmatte's own config, loaded once."""
    path = bundled_config_path()
    if not path.is_file():
        raise InputError(path, "bundled OCIO config is missing (broken install)")
    return _load_file(str(path.resolve()), path.stat().st_mtime_ns)


def resolve_config(ocio: str | None) -> ResolvedConfig:
    """Load the OCIO config a run should use.

    Args:
        ocio: a config file path or an `ocio://` built-in name (e.g. `ocio://studio-config-latest`);
            None or "" falls back to `$OCIO`, then to the bundled config.

    Returns:
        The loaded config and its source.

    Raises:
        InputError: the chosen config is missing, unreadable or not a valid OCIO config; the subject
            is its path or `ocio://` name, and the problem says when $OCIO named it.
    """
    if ocio:
        return _load(ocio)
    from_env = os.environ.get("OCIO", "")
    if from_env:
        log.info("using the OCIO config from $OCIO: %s", from_env)
        try:
            return _load(from_env)
        except InputError as error:
            raise InputError(error.subject, f"{error.problem} (named by $OCIO)") from None
    return bundled_config()


def _load(value: str) -> ResolvedConfig:
    """Load a path or `ocio://` name through the caches, turning every failure into an InputError."""
    if value.startswith(BUILTIN_PREFIX):
        return _load_builtin(value)
    path = Path(value).expanduser()
    if not path.exists():
        raise InputError(value, "no such OCIO config")
    if not path.is_file():
        raise InputError(value, "OCIO config is not a file")
    return _load_file(str(path.resolve()), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _load_builtin(name: str) -> ResolvedConfig:
    try:
        config = OCIO.Config.CreateFromFile(name)
    except OCIO.Exception:
        raise InputError(name, f"unknown built-in OCIO config; known: {_builtin_names()}") from None
    return ResolvedConfig(config, name)


@functools.lru_cache(maxsize=16)
def _load_file(path: str, mtime_ns: int) -> ResolvedConfig:
    """Parse one config file; `mtime_ns` is part of the cache key so an edited config is re-read."""
    try:
        config = OCIO.Config.CreateFromFile(path)
    except OCIO_ERRORS as error:
        raise InputError(path, f"not a readable OCIO config: {ocio_problem(error)}") from None
    return ResolvedConfig(config, path)


def _builtin_names() -> str:
    """The `ocio://` names OCIO knows: the three aliases, then how many versioned names exist."""
    versioned = [name for name, *_ in OCIO.BuiltinConfigRegistry().getBuiltinConfigs()]
    aliases = ", ".join(BUILTIN_PREFIX + name for name in ("default", "cg-config-latest", "studio-config-latest"))
    return f"{aliases} (and {len(versioned)} versioned names, e.g. {BUILTIN_PREFIX}{versioned[-1]})"


def ocio_problem(error: Exception) -> str:
    """One line for an OCIO error: a missing LUT (or other referenced file) is named with where OCIO looked."""
    match = _MISSING_FILE.search(str(error))
    if isinstance(error, OCIO.ExceptionMissingFile) or match:
        if match is None:
            return f"a file the config references is missing: {_short_reason(error)}"
        tried = f" (looked for {match['tried'].strip()})" if match["tried"] else ""
        return (f"the config references a file that is missing: '{match['file']}'{tried}; "
                "put the LUT next to the config (or on its search_path) or fix the config")
    return _short_reason(error)


def _short_reason(error: Exception) -> str:
    """OCIO's parse error without its 'Loading the OCIO profile <path> failed.' preamble."""
    text = re.sub(r"^(Error:\s*)?Loading the OCIO profile '.*?' failed\.\s*", "", str(error).strip())
    return (text.splitlines() or ["unknown error"])[0][:300]
