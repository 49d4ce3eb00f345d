"""Discord's checks on what a client sends (message bodies, commands, autocomplete results, modals), answered
like Discord: a :class:`FormErrors` tree that becomes the ``errors`` of a 400 / 50035 "Invalid Form Body".
"""

from __future__ import annotations

import re
from typing import Any

from loopback.discord.model import JSON, MessageFlags


class FormErrors:
    """Builds Discord's nested ``errors`` body of a 50035 Invalid Form Body."""

    def __init__(self) -> None:
        self.tree: JSON = {}

    def add(self, path: list[str | int], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_len(self, path: list[str | int], limit: int) -> None:
        self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def __bool__(self) -> bool:
        return bool(self.tree)


EMBED_TEXT_LIMITS = {"title": 256, "description": 4096}
EMBED_FIELD_LIMITS = {"name": 256, "value": 1024}


def validate_message_body(body: JSON, errors: FormErrors, *, require_content: bool = True) -> bool:
    """Validate content/embeds/components of a message body; returns False when it is empty."""
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        errors.add(["content"], "BASE_TYPE_STRING", "Must be a string.")
    elif isinstance(content, str) and len(content) > 2000:
        errors.max_len(["content"], 2000)
    embeds = body.get("embeds") or []
    if not isinstance(embeds, list):
        errors.add(["embeds"], "BASE_TYPE_ARRAY", "Must be an array.")
        embeds = []
    if len(embeds) > 10:
        errors.max_len(["embeds"], 10)
    total = 0
    for index, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            errors.add(["embeds", index], "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        for key, limit in EMBED_TEXT_LIMITS.items():
            value = embed.get(key)
            if isinstance(value, str):
                total += len(value)
                if len(value) > limit:
                    errors.max_len(["embeds", index, key], limit)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors.max_len(["embeds", index, "fields"], 25)
        for f_index, fld in enumerate(fields):
            for key, limit in EMBED_FIELD_LIMITS.items():
                text = str(fld.get(key, ""))
                total += len(text)
                path: list[str | int] = ["embeds", index, "fields", f_index, key]
                if not text:
                    errors.add(path, "BASE_TYPE_REQUIRED", "This field is required")
                if len(text) > limit:
                    errors.max_len(path, limit)
        footer = embed.get("footer") or {}
        if len(str(footer.get("text", ""))) > 2048:
            errors.max_len(["embeds", index, "footer", "text"], 2048)
        total += len(str(footer.get("text", "")))
        author = embed.get("author") or {}
        if len(str(author.get("name", ""))) > 256:
            errors.max_len(["embeds", index, "author", "name"], 256)
        total += len(str(author.get("name", "")))
    if total > 6000:
        errors.add(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    components = body.get("components") or []
    if len(components) > 5 and not (int(body.get("flags") or 0) & MessageFlags.IS_COMPONENTS_V2):
        errors.max_len(["components"], 5)
    _validate_components(components, ["components"], errors)
    has_content = bool(content) or bool(embeds) or bool(components) or bool(body.get("poll"))
    has_content = has_content or bool(body.get("attachments")) or bool(body.get("sticker_ids"))
    return has_content or not require_content


def _validate_components(components: Any, path: list[str | int], errors: FormErrors) -> None:
    if not isinstance(components, list):
        return
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            continue
        custom_id = component.get("custom_id")
        if isinstance(custom_id, str) and len(custom_id) > 100:
            errors.max_len([*path, index, "custom_id"], 100)
        if component.get("type") == 1 and len(component.get("components") or []) > 5:
            errors.max_len([*path, index, "components"], 5)
        for key in ("components",):
            if key in component:
                _validate_components(component[key], [*path, index, key], errors)
        if isinstance(component.get("component"), dict):
            _validate_components([component["component"]], [*path, index, "component"], errors)
        if isinstance(component.get("accessory"), dict):
            _validate_components([component["accessory"]], [*path, index, "accessory"], errors)


_CHAT_INPUT_NAME = re.compile(r"^[-_'\w\u0900-\u097f\ua8e0-\ua8ff\u0e01-\u0e3a\u0e40-\u0e5b]{1,32}$")
#: Discord's locales (Reference, "Locales"): the only keys a ``*_localizations`` object may have
LOCALES = frozenset(
    "id da de en-GB en-US es-ES es-419 fr hr it lt hu nl no pl pt-BR ro fi sv-SE vi tr cs el bg ru uk hi th zh-CN ja "
    "zh-TW ko".split()
)


def _check_localizations(
    obj: JSON, path: list[str | int], errors: FormErrors, *, chat_input: bool, what: str, description: bool = True
) -> None:
    """``name_localizations`` / ``description_localizations``: Discord's locales as keys, each value under the
    rules of the field it localizes."""
    for field in ("name_localizations", "description_localizations") if description else ("name_localizations",):
        values = obj.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            errors.add([*path, field], "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        for locale, value in values.items():
            lpath: list[str | int] = [*path, field, locale]
            if locale not in LOCALES:
                errors.add(lpath, "ENUM_TYPE_COERCE", f'Value "{locale}" is not a valid enum value.')
            elif field == "description_localizations":
                if not isinstance(value, str) or not 1 <= len(value) <= 100:
                    errors.add(lpath, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            elif not chat_input and what == "Choice":
                if not isinstance(value, str) or not 1 <= len(value) <= 100:
                    errors.add(lpath, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            else:
                _check_name_value(value, lpath, errors, chat_input=chat_input, what=what)


_COMMAND_LIMITS = {1: 100, 2: 5, 3: 5, 4: 1}


def _check_name(name: Any, path: list[str | int], errors: FormErrors, *, chat_input: bool, what: str) -> None:
    _check_name_value(name, [*path, "name"], errors, chat_input=chat_input, what=what)


def _check_name_value(name: Any, path: list[str | int], errors: FormErrors, *, chat_input: bool, what: str) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        errors.add(path, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        return
    if chat_input and (not _CHAT_INPUT_NAME.match(name) or name != name.lower()):
        errors.add(path, "APPLICATION_COMMAND_INVALID_NAME", f"{what} name is invalid")


def _check_description(desc: Any, path: list[str | int], errors: FormErrors) -> None:
    if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
        errors.add([*path, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


def _check_options(options: Any, path: list[str | int], errors: FormErrors, depth: int) -> None:
    if options is None:
        return
    if not isinstance(options, list):
        errors.add(path, "BASE_TYPE_ARRAY", "Must be an array.")
        return
    if len(options) > 25:
        errors.max_len(path, 25)
    seen: set[str] = set()
    optional_seen = False
    for index, option in enumerate(options):
        opath: list[str | int] = [*path, index]
        if not isinstance(option, dict):
            errors.add(opath, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        otype = option.get("type")
        if not isinstance(otype, int) or not 1 <= otype <= 11:
            errors.add([*opath, "type"], "BASE_TYPE_CHOICES", f"Value must be one of {set(range(1, 12))}.")
            continue
        _check_name(option.get("name"), opath, errors, chat_input=True, what="Option")
        _check_description(option.get("description"), opath, errors)
        _check_localizations(option, opath, errors, chat_input=True, what="Option")
        name = option.get("name")
        if isinstance(name, str):
            if name in seen:
                errors.add(
                    [*opath, "name"],
                    "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS",
                    "Option name already exists",
                )
            seen.add(name)
        if otype in (1, 2):
            if (otype == 2 and depth > 0) or (otype == 1 and depth > 1):
                errors.add(
                    [*opath, "type"],
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Subcommands cannot nest so deep",
                )
            sub_options = option.get("options") or []
            if otype == 2:
                for s_index, sub in enumerate(sub_options):
                    if isinstance(sub, dict) and sub.get("type") != 1:
                        errors.add(
                            [*opath, "options", s_index, "type"],
                            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                            "Subcommand groups can only contain subcommands",
                        )
            _check_options(sub_options, [*opath, "options"], errors, depth + 1)
            continue
        required = bool(option.get("required"))
        if required and optional_seen:
            errors.add(
                [*opath, "required"],
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            )
        optional_seen = optional_seen or not required
        choices = option.get("choices")
        if choices is not None:
            if option.get("autocomplete"):
                errors.add(
                    [*opath, "autocomplete"],
                    "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                    "Autocomplete cannot be set with choices",
                )
            if not isinstance(choices, list):
                errors.add([*opath, "choices"], "BASE_TYPE_ARRAY", "Must be an array.")
            else:
                if len(choices) > 25:
                    errors.max_len([*opath, "choices"], 25)
                for c_index, choice in enumerate(choices):
                    if isinstance(choice, dict):
                        cpath: list[str | int] = [*opath, "choices", c_index]
                        _check_localizations(choice, cpath, errors, chat_input=False, what="Choice", description=False)
                    cname = choice.get("name") if isinstance(choice, dict) else None
                    if not isinstance(cname, str) or not 1 <= len(cname) <= 100:
                        errors.add(
                            [*opath, "choices", c_index, "name"],
                            "BASE_TYPE_BAD_LENGTH",
                            "Must be between 1 and 100 in length.",
                        )


def validate_commands(commands: Any) -> FormErrors:
    """Discord's checks on a bulk overwrite body (the ones that matter for a bot)."""
    errors = FormErrors()
    if not isinstance(commands, list):
        errors.add([], "BASE_TYPE_ARRAY", "Must be an array.")
        return errors
    counts: dict[int, int] = {}
    seen: set[tuple[str, int]] = set()
    for index, command in enumerate(commands):
        if not isinstance(command, dict):
            errors.add([index], "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        ctype = int(command.get("type") or 1)
        if ctype not in _COMMAND_LIMITS:
            errors.add([index, "type"], "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
            continue
        counts[ctype] = counts.get(ctype, 0) + 1
        name = command.get("name")
        _check_name(name, [index], errors, chat_input=ctype == 1, what="Command")
        _check_localizations(command, [index], errors, chat_input=ctype == 1, what="Command")
        if isinstance(name, str):
            if (name, ctype) in seen:
                errors.add(
                    [index, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            seen.add((name, ctype))
        if ctype == 1:
            _check_description(command.get("description"), [index], errors)
            _check_options(command.get("options"), [index, "options"], errors, 0)
        elif command.get("description"):
            errors.add(
                [index, "description"],
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION_INVALID",
                "Context menu commands cannot have description",
            )
    for ctype, count in counts.items():
        if count > _COMMAND_LIMITS[ctype]:
            errors.add(
                [],
                "APPLICATION_COMMAND_TOO_MANY",
                f"Maximum number of application commands of type {ctype} reached ({_COMMAND_LIMITS[ctype]})",
            )
    return errors


def validate_command_choices(data: Any) -> FormErrors:
    """Validation of an autocomplete result (callback type 8)."""
    errors = FormErrors()
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        errors.add(["data", "choices"], "BASE_TYPE_REQUIRED", "This field is required")
        return errors
    if len(choices) > 25:
        errors.max_len(["data", "choices"], 25)
    for index, choice in enumerate(choices):
        name = choice.get("name") if isinstance(choice, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            errors.add(
                ["data", "choices", index, "name"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        value = choice.get("value") if isinstance(choice, dict) else None
        if isinstance(value, str) and len(value) > 100:
            errors.max_len(["data", "choices", index, "value"], 100)
    return errors


def validate_modal(data: Any) -> FormErrors:
    errors = FormErrors()
    if not isinstance(data, dict):
        errors.add(["data"], "BASE_TYPE_REQUIRED", "This field is required")
        return errors
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 100:
        errors.add(["data", "custom_id"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= 45:
        errors.add(["data", "title"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length.")
    components = data.get("components")
    if not isinstance(components, list) or not 1 <= len(components) <= 5:
        errors.add(["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
    return errors
