"""What in the AWS configuration chain a botocore failure comes from, said as a
:class:`~dioptra_plugins.errors.ConfigurationError` that names the variable, setting or file to
blame and its bad value, and never a secret.

botocore reads the environment, the profile and the config and credentials files when
:class:`~dioptra_plugins.index.s3.S3Storage` creates its client, and some of it lazily at the
first request; its errors quote a value or name a setting in words ("S3 us-east-1 regional
endpoint"). The functions here tell from those words, or by asking botocore again one variable
at a time, which of the user's settings is wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import botocore.exceptions
import botocore.session
from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES

from dioptra_plugins.errors import ConfigurationError

# Never repeated in a message or a log line, wherever they turn up.
_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_CONFIG_FILE_VARIABLES = {
    "AWS_CONFIG_FILE": "~/.aws/config",
    "AWS_SHARED_CREDENTIALS_FILE": "~/.aws/credentials",
}
# What an access key, a secret key or a session token can be: printable ASCII, no blanks.
_CREDENTIAL_TEXT = re.compile(r"^[\x21-\x7e]+$")
_SHOWN_VALUE_CHARS = 80


def redact(text: str) -> str:
    """``text`` with every secret of the environment replaced, in plain and escaped forms, and
    on one line (botocore quotes values as they are: a newline would split the error line)."""
    text = _escape_controls(text)
    for variable in _SECRET_VARIABLES:
        secret = os.environ.get(variable, "")
        if len(secret) < 4:
            continue  # too short to tell from ordinary text; and no key is that short
        forms = {secret, repr(secret)[1:-1], repr(secret.encode("utf-8", "replace"))[2:-1]}
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, f"<{variable}>")
    return text


def _escape_controls(text: str) -> str:
    return (
        re.sub(r"[\x00-\x1f\x7f]", lambda match: repr(match.group())[1:-1], text)
        .encode("utf-8", "backslashreplace")
        .decode("utf-8")
    )


def config_files(joined_by: str = " or ") -> str:
    """Where botocore looks for profiles: the config file, then the credentials file (paths
    only; the files are not read here)."""
    return joined_by.join(
        os.environ.get(variable) or default for variable, default in _CONFIG_FILE_VARIABLES.items()
    )


def credential_source(session: botocore.session.Session) -> str:
    """Which link of the AWS chain produced credentials, without revealing any secret."""
    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as error:
        return f"the AWS credential chain failed: {error}"
    if credentials is None:
        return "no credentials were found"
    access_key = credentials.access_key or ""
    shown = f"{access_key[:4]}…" if len(access_key) > 4 else "…"
    return f"access key id {shown} from {credentials.method}"


def check_credential_text(credentials: Any, where: str) -> None:
    """Refuse credentials that cannot go into an HTTP header (botocore would only fail while
    sending), naming the variable or the credential source they came from."""
    method = str(getattr(credentials, "method", "") or "")
    for name, variable in (
        ("access_key", "AWS_ACCESS_KEY_ID"),
        ("secret_key", "AWS_SECRET_ACCESS_KEY"),
        ("token", "AWS_SESSION_TOKEN"),
    ):
        text = getattr(credentials, name, None)
        if text is None or (name == "token" and text == ""):
            continue
        if not _CREDENTIAL_TEXT.match(text):
            source = (
                f"the variable {variable}"
                if method == "env"
                else f"{variable.lower()} from the credential source {method!r}"
            )
            # The value is never shown: two of the three are secrets, and a key id with a
            # newline in it is as likely a pasted secret.
            raise ConfigurationError(
                f"cannot use the index {where}: {source} is empty or holds a blank, a "
                "control character or a non-ASCII character, which AWS credentials never "
                "contain",
                variable=variable,
                value=None,
            )


def _shown(value: str) -> str:
    """A value as it goes into a message: quoted, escaped, and cut when very long."""
    if len(value) > _SHOWN_VALUE_CHARS:
        return repr(value[:_SHOWN_VALUE_CHARS]) + f" (cut, {len(value)} characters)"
    return repr(value)


def _aws_variables() -> dict[str, str]:
    """The AWS chain's variables that are set, secrets left out."""
    return {
        name: value
        for name, value in os.environ.items()
        if (name.startswith("AWS_") or name.startswith("BOTOCORE_"))
        and name not in _SECRET_VARIABLES
    }


def _file_variable(path: str) -> str | None:
    """Which of AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE (or their defaults) is ``path``."""
    wanted = os.path.abspath(os.path.expanduser(path))
    for variable, default in _CONFIG_FILE_VARIABLES.items():
        chosen = os.environ.get(variable) or default
        if os.path.abspath(os.path.expanduser(chosen)) == wanted:
            return variable
    return None


def _words(text: str) -> str:
    """``text`` lower-cased with every run of other characters one underscore, to compare
    botocore's words ("S3 us-east-1 regional endpoint") with variable names."""
    return "_" + re.sub(r"[^a-z0-9]+", "_", text.lower()) + "_"


def _blame_by_name(message: str) -> tuple[str, str] | None:
    """The set AWS variable whose name (less ``AWS_``) the message spells, the longest first;
    names of one word ("region") are too common to tell anything."""
    words = _words(message)
    found = [
        (name, value)
        for name, value in _aws_variables().items()
        if "_" in name.removeprefix("AWS_")
        and _words(name.removeprefix("AWS_").removeprefix("S3_")) in words
    ]
    if not found:
        return None
    return max(found, key=lambda item: (len(item[0]), item[0]))


def _setting_named_in(message: str) -> str | None:
    """The config-file key of botocore's session settings that the message names, if any."""
    words = _words(message)
    keys: set[str] = set()
    for spec in BOTOCORE_DEFAUT_SESSION_VARIABLES.values():
        key = spec[0]
        if isinstance(key, str) and "_" in key:
            keys.add(key)
    named = [key for key in keys if _words(key) in words]
    return max(named, key=len) if named else None


def _blame_by_value(message: str) -> tuple[str, str] | None:
    """The set AWS variable whose value the message quotes (the longest, when several do)."""
    found = [
        (name, value)
        for name, value in _aws_variables().items()
        if value.strip() and (value in message or repr(value)[1:-1] in message)
    ]
    if not found:
        return None
    return max(found, key=lambda item: (len(item[1]), item[0]))


def _invalid_variable(prefix: str, variable: str, value: str, detail: str) -> ConfigurationError:
    return ConfigurationError(
        f"{prefix}{variable}={_shown(value)} is not a valid setting: {detail}",
        variable=variable,
        value=value,
    )


def _invalid_profile_setting(prefix: str, setting: str, detail: str) -> ConfigurationError:
    return ConfigurationError(
        f"{prefix}the setting {setting} of the AWS profile in {config_files()} is not valid: "
        f"{detail}",
        variable=setting,
    )


def _variable_or_setting_error(
    prefix: str,
    detail: str,
    variable: tuple[str, str] | None,
    setting: Callable[[], str | None],
) -> ConfigurationError | None:
    """The error blaming ``variable`` (a name and its value) when one was found, else the
    profile setting ``setting()`` finds, else None."""
    if variable is not None:
        name, value = variable
        return _invalid_variable(prefix, name, value, detail)
    named = setting()
    return None if named is None else _invalid_profile_setting(prefix, named, detail)


def configuration_error(
    error: Exception, where: str, session: botocore.session.Session | None = None
) -> ConfigurationError:
    """The one library error for a failure of the AWS configuration chain: the variable or
    file to blame and the bad value (never a secret), else every variable set, by name."""
    blamed = blamed_configuration_error(error, where)
    if blamed is not None:
        return blamed
    detail = redact(str(error) or type(error).__name__)
    prefix = f"cannot use the index {where}: "
    # Asked one variable, then one profile setting, at a time: the error quoted none.
    probed = _variable_or_setting_error(
        prefix, detail, _probe_variables(session), lambda: _probe_profile(session)
    )
    if probed is not None:
        return probed
    names = ", ".join(sorted(_aws_variables())) or "none"
    return ConfigurationError(
        f"{prefix}the AWS configuration is invalid ({detail}); check the AWS variables set "
        f"({names}) and the files {config_files(' and ')}"
    )


def _endpoint_is_malformed(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return True
    return parts.scheme not in ("http", "https") or not parts.hostname


def _probe_variables(session: botocore.session.Session | None) -> tuple[str, str] | None:
    """The first set variable that botocore cannot read on its own, asked one at a time.

    Used when an error quotes no value (``int('')``): each variable of botocore's session map
    that is set is read through botocore's own converter, and the endpoint variables parsed.
    """
    for variable in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        value = os.environ.get(variable)
        if value is not None and value.strip() and _endpoint_is_malformed(value):
            return variable, value
    if session is None:
        return None
    for logical, spec in sorted(session.session_var_map.items()):
        names = spec[1] if isinstance(spec[1], list | tuple) else [spec[1]]
        set_names = [name for name in names if name and name in os.environ]
        if not set_names or set_names[0] in _SECRET_VARIABLES:
            continue
        try:
            session.get_config_variable(logical, methods=("env",))
        except Exception:  # any failure of botocore's converter is the answer
            return set_names[0], os.environ[set_names[0]]
    return None


def _probe_profile(session: botocore.session.Session | None) -> str | None:
    """The first setting of the AWS profile (config file) that botocore cannot convert."""
    if session is None:
        return None
    for logical, spec in sorted(session.session_var_map.items()):
        if not isinstance(spec[0], str):
            continue
        try:
            session.get_config_variable(logical, methods=("config",))
        except Exception:  # any failure of botocore's converter is the answer
            return spec[0]
    return None


def blamed_configuration_error(error: Exception, where: str) -> ConfigurationError | None:
    """The error naming the variable or file that ``error`` comes from, or None when no
    variable or file can be told (a lazily raised botocore error then stays a storage error).
    """
    detail = redact(str(error) or type(error).__name__)
    prefix = f"cannot use the index {where}: "
    by_type = _blame_by_error_type(error, prefix, detail)
    if by_type is not None:
        return by_type
    return _variable_or_setting_error(
        prefix,
        detail,
        _blame_by_name(detail) or _blame_by_value(detail),
        lambda: _setting_named_in(detail),
    )


def _blame_by_error_type(error: Exception, prefix: str, detail: str) -> ConfigurationError | None:
    """The error for the botocore failures that carry their culprit: a config file that cannot
    be read or parsed, partial credentials, a region no variable holds."""
    kwargs: dict[str, Any] = getattr(error, "kwargs", {}) or {}
    if isinstance(error, botocore.exceptions.ConfigParseError | botocore.exceptions.ConfigNotFound):
        path = str(kwargs.get("path", ""))
        variable = _file_variable(path)
        named = f" ({variable})" if variable else ""
        return ConfigurationError(
            f"{prefix}the AWS configuration file {path}{named} cannot be read: {detail}",
            variable=variable,
            value=path,
            file=path,
        )
    if isinstance(error, botocore.exceptions.PartialCredentialsError):
        missing = str(kwargs.get("cred_var", ""))
        provider = str(kwargs.get("provider", ""))
        return ConfigurationError(
            f"{prefix}partial AWS credentials in {provider}: {missing} is missing or empty",
            variable=missing or None,
        )
    if isinstance(error, OSError) and error.filename:
        path = str(error.filename)
        return ConfigurationError(
            f"{prefix}the AWS configuration file {path} cannot be read: {error.strerror or detail}",
            variable=_file_variable(path),
            value=path,
            file=path,
        )
    if isinstance(error, botocore.exceptions.InvalidRegionError):
        region = str(kwargs.get("region_name", ""))
        if not any(os.environ.get(name) == region for name in ("AWS_DEFAULT_REGION", "AWS_REGION")):
            # From the profile: no variable holds it (one that does is blamed by its value).
            return ConfigurationError(
                f"{prefix}the region {_shown(region)} of the AWS profile is malformed: {detail}",
                variable="region",
                value=region,
            )
    return None
