"""The one text catalogue: complete in every language, placeholders that agree, plurals by CLDR's rule,
one duration() and one money() for every service, and no file read per message."""
from __future__ import annotations

import builtins
import gettext
import re
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.pofile import read_po

from services.bot.i18n import Translations

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ROOT / "common" / "texts"
FIELD = re.compile(r"\{(\w+)\}")
# Literal keys in code: t("key"), admin_t("key"), text(locale, "key"); f-strings name a family by prefix.
CALLED = re.compile(r"\b(?:t|\w+_t)\(\s*\"([^\"]+)\"|\btext\([^,()\"]+,\s*\"([^\"]+)\"")
LITERAL = re.compile(r"\"([a-z_]+(?:\.[a-z0-9_]+)*)\"")
FAMILY = re.compile(r"f\"([a-z_]+(?:\.[a-z0-9_]+)*[._])\{")
# gettext numbers a language's forms in CLDR's order of its integer categories.
FORMS = {"ru": ["one", "few", "many"]}
NUMBERS = (0, 1, 2, 5, 11, 21, 22, 25)


def read(path: Path, locale: str | None = None):
    with open(path, "rb") as file:
        return read_po(file, locale=locale)


def source() -> dict[str, object]:
    return {m.context: m for m in read(TEXTS / "messages.pot") if m.id}


def languages() -> dict[str, dict[str, object]]:
    found = {}
    for path in sorted(TEXTS.glob("*/LC_MESSAGES/messages.po")):
        code = path.parent.parent.name
        found[code] = {m.context: m for m in read(path, code) if m.id}
    return found


def forms(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


def test_every_key_is_in_every_language_and_no_language_has_more():
    english, translated = source(), languages()
    assert "ru" in translated
    # The JSON catalogues held 287 keys (bot 253, scheduler 34); payments added two invoice descriptions.
    assert len(english) >= 289 and "admin.alert_claim_contradicted" in english
    for code, messages in translated.items():
        assert sorted(set(english) - set(messages)) == [], f"{code} lacks these keys"
        assert sorted(set(messages) - set(english)) == [], f"{code} has keys the source lacks"
        for key, message in messages.items():
            assert message.id == english[key].id, (code, key, "translates an old English text")
            assert not message.fuzzy, (code, key, "is marked fuzzy: it would show in English")
            assert all(forms(message.string)), (code, key, "has an empty form")
            if isinstance(message.id, tuple):
                assert len(forms(message.string)) == len(FORMS[code]), (code, key)


def test_placeholders_agree_between_languages_and_forms():
    english, translated = source(), languages()
    for key, message in english.items():
        wanted = set(FIELD.findall(forms(message.id)[0]))
        assert all(set(FIELD.findall(form)) == wanted for form in forms(message.id)), key
        if isinstance(message.id, tuple):
            counts = [note.removeprefix("count: ") for note in message.auto_comments if note.startswith("count: ")]
            assert len(counts) == 1 and counts[0] in wanted, (key, "names no placeholder as its count")
        for code, messages in translated.items():
            for form in forms(messages[key].string):
                assert set(FIELD.findall(form)) == wanted, (code, key, form)


@pytest.mark.parametrize("code", sorted(FORMS))
def test_each_catalogue_chooses_its_forms_by_cldr_rule(code):
    """The Plural-Forms header decides at run time; it must say what CLDR says, for every count."""
    catalog = read(TEXTS / code / "LC_MESSAGES" / "messages.po", code)
    choose = gettext.c2py(catalog.plural_expr)
    rule = Locale.parse(code).plural_form
    assert catalog.num_plurals == len(FORMS[code])
    for n in range(0, 1200):
        assert FORMS[code][choose(n)] == rule(n), n


@pytest.mark.parametrize("n", NUMBERS)
def test_russian_and_english_counts_read_right(n):
    texts = Translations()
    word = {0: "дней", 1: "день", 2: "дня", 5: "дней", 11: "дней", 21: "день", 22: "дня", 25: "дней"}[n]
    assert f"через {n} {word}, 1 мая" in texts.get("ru")("notice.expiry_reminder", days=n, date="1 мая")
    assert f"ends in {n} {'day' if n == 1 else 'days'}, on May 1." in \
        texts.get("en")("notice.expiry_reminder", days=n, date="May 1")
    rows = {0: "строк", 1: "строка", 2: "строки", 5: "строк", 11: "строк", 21: "строка", 22: "строки", 25: "строк"}[n]
    assert texts.get("ru")("export.caption", id=7, kind="платежи", rows=n) == f"Выгрузка #7: платежи, {n} {rows}"
    assert texts.get("en")("admin.stats_revenue_line", today="1", week="2", month="3", count=n).endswith(
        f"({n} {'payment' if n == 1 else 'payments'} in 30 days)")


def test_code_names_only_keys_the_catalogue_has_and_the_catalogue_only_keys_code_uses():
    keys = set(source())
    called, literals, families = set(), set(), set()
    for path in (ROOT / "services").rglob("*.py"):
        code = path.read_text(encoding="utf-8")
        called.update(a or b for a, b in CALLED.findall(code))
        literals.update(LITERAL.findall(code))
        families.update(FAMILY.findall(code))
    assert len(called) > 150
    assert sorted(called - keys) == []
    unused = {key for key in keys - literals if not any(key.startswith(prefix) for prefix in families)}
    assert sorted(unused) == []


def test_one_duration_and_one_money_for_every_service():
    defined = {}
    for folder in ("services", "common"):
        for path in (ROOT / folder).rglob("*.py"):
            for name in re.findall(r"^def (duration|money)\(", path.read_text(encoding="utf-8"), re.M):
                defined.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert defined == {"duration": ["common/texts/formats.py"], "money": ["common/texts/formats.py"]}
    assert not [str(p.relative_to(ROOT)) for p in (ROOT / "services").rglob("*.json")], "a second text system"


def test_durations_and_money_read_alike_in_every_service():
    from common.texts import duration, money

    assert [duration(s) for s in (None, 0, 5, 247, 3900, 93600)] == ["—", "0s", "5s", "4m 07s", "1h 05m", "1d 2h"]
    assert [duration(s, "ru") for s in (5, 247, 3900, 93600)] == ["5 с", "4 мин 07 с", "1 ч 05 мин", "1 д. 2 ч"]
    assert duration(3900, "xx") == "1h 05m"   # an unknown language reads as English, never fails
    assert money("8", "USD") == "8.00 USD" and money(150, "XTR") == "150 ⭐" and money(150, "XTR", star="★") == "150 ★"


def test_a_message_reads_no_file(monkeypatch):
    """The catalogue is parsed at start; rendering a text per update must not touch the disk."""
    texts = Translations()

    def refuse(*args, **kwargs):
        raise AssertionError(f"a file was opened while rendering: {args[:1]}")

    monkeypatch.setattr(builtins, "open", refuse)
    for locale in ("en", "ru", "pt"):
        t = texts.get(texts.resolve(locale))
        assert t("sub.expires", date="x", days=3) and t("menu.buy")


def test_a_broken_plural_count_still_renders():
    """A caller that passes no count (or a text) gets the many-form with a dash, never a crash."""
    t = Translations().get("ru")
    assert t("notice.expiry_reminder", date="1 мая") == \
        "⏰ Подписка закончится через — дней, 1 мая. Продлите её, чтобы оставаться на связи."
    assert "unknown.key" == t("unknown.key")
