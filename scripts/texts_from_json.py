"""One-off: the bot's and the scheduler's JSON locales -> one gettext catalogue in common/texts.

msgctxt is the old key (code keeps calling texts by key), msgid the English text, msgstr the
Russian one. The texts that count something become plural entries (msgid_plural, msgstr[n]); the
extracted comment `count: <placeholder>` names the number that chooses the form.
Every key is carried over and the counts are checked after writing, by reading the files back.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "services/bot/i18n/locales", ROOT / "services/scheduler/texts"]
OUT = ROOT / "common/texts"
FIELD = re.compile(r"\{(\w+)\}")

# key -> (count placeholder, English (one, other), Russian (one, few, many))
PLURALS: dict[str, tuple[str, tuple[str, str], tuple[str, str, str]]] = {
    "trial.preparing": ("days", (
        "🎁 Your free trial for {days} day is on! Your key is being prepared and will arrive in this chat in a moment.",
        "🎁 Your free trial for {days} days is on! Your key is being prepared and will arrive in this chat in a moment."), (
        "🎁 Пробный период на {days} день активирован! Ключ готовится и скоро придёт в этот чат.",
        "🎁 Пробный период на {days} дня активирован! Ключ готовится и скоро придёт в этот чат.",
        "🎁 Пробный период на {days} дней активирован! Ключ готовится и скоро придёт в этот чат.")),
    "trial.queued": ("days", (
        "🎁 Your free trial for {days} day is on! The key service is busy, so your key is queued — it will arrive in this chat shortly.",
        "🎁 Your free trial for {days} days is on! The key service is busy, so your key is queued — it will arrive in this chat shortly."), (
        "🎁 Пробный период на {days} день активирован! Сервис ключей сейчас занят, ваш ключ в очереди — он скоро придёт в этот чат.",
        "🎁 Пробный период на {days} дня активирован! Сервис ключей сейчас занят, ваш ключ в очереди — он скоро придёт в этот чат.",
        "🎁 Пробный период на {days} дней активирован! Сервис ключей сейчас занят, ваш ключ в очереди — он скоро придёт в этот чат.")),
    "buy.plan_button": ("days", ("{days} day — {price} / {stars}", "{days} days — {price} / {stars}"), (
        "{days} день — {price} / {stars}", "{days} дня — {price} / {stars}", "{days} дней — {price} / {stars}")),
    "buy.plan_summary": ("days", (
        "<b>{days} day</b>\nPrice: {price} or {stars}\nTraffic: {traffic}",
        "<b>{days} days</b>\nPrice: {price} or {stars}\nTraffic: {traffic}"), (
        "<b>{days} день</b>\nЦена: {price} или {stars}\nТрафик: {traffic}",
        "<b>{days} дня</b>\nЦена: {price} или {stars}\nТрафик: {traffic}",
        "<b>{days} дней</b>\nЦена: {price} или {stars}\nТрафик: {traffic}")),
    "invoice.stars_title": ("days", ("VPN for {days} day", "VPN for {days} days"), (
        "VPN на {days} день", "VPN на {days} дня", "VPN на {days} дней")),
    "invoice.stars_description": ("days", (
        "VPN access for {days} day. The key arrives in this chat after payment.",
        "VPN access for {days} days. The key arrives in this chat after payment."), (
        "Доступ к VPN на {days} день. Ключ придёт в этот чат после оплаты.",
        "Доступ к VPN на {days} дня. Ключ придёт в этот чат после оплаты.",
        "Доступ к VPN на {days} дней. Ключ придёт в этот чат после оплаты.")),
    "sub.expires": ("days", (
        "Valid until: {date} ({days} day left)", "Valid until: {date} ({days} days left)"), (
        "Действует до: {date} (остался {days} день)", "Действует до: {date} (осталось {days} дня)",
        "Действует до: {date} (осталось {days} дней)")),
    "ref.text": ("bonus", (
        "<b>👥 Referrals</b>\n\nShare your personal link:\n{link}\n\nWhen someone you invited pays for the first time, you get <b>{bonus} bonus day</b>.\n\nInvited: {invited}\nPaid: {paid}\nBonus days earned: {days}",
        "<b>👥 Referrals</b>\n\nShare your personal link:\n{link}\n\nWhen someone you invited pays for the first time, you get <b>{bonus} bonus days</b>.\n\nInvited: {invited}\nPaid: {paid}\nBonus days earned: {days}"), (
        "<b>👥 Рефералы</b>\n\nВаша персональная ссылка:\n{link}\n\nКогда приглашённый вами человек впервые оплатит подписку, вы получите <b>{bonus} бонусный день</b>.\n\nПриглашено: {invited}\nОплатили: {paid}\nПолучено бонусных дней: {days}",
        "<b>👥 Рефералы</b>\n\nВаша персональная ссылка:\n{link}\n\nКогда приглашённый вами человек впервые оплатит подписку, вы получите <b>{bonus} бонусных дня</b>.\n\nПриглашено: {invited}\nОплатили: {paid}\nПолучено бонусных дней: {days}",
        "<b>👥 Рефералы</b>\n\nВаша персональная ссылка:\n{link}\n\nКогда приглашённый вами человек впервые оплатит подписку, вы получите <b>{bonus} бонусных дней</b>.\n\nПриглашено: {invited}\nОплатили: {paid}\nПолучено бонусных дней: {days}")),
    "notice.referral_bonus": ("days", (
        "🎉 A friend you invited has paid: you get {days} bonus day! Valid until {date}.",
        "🎉 A friend you invited has paid: you get {days} bonus days! Valid until {date}."), (
        "🎉 Приглашённый вами друг оплатил подписку: вам начислен {days} бонусный день! Действует до {date}.",
        "🎉 Приглашённый вами друг оплатил подписку: вам начислено {days} бонусных дня! Действует до {date}.",
        "🎉 Приглашённый вами друг оплатил подписку: вам начислено {days} бонусных дней! Действует до {date}.")),
    "notice.expiry_reminder": ("days", (
        "⏰ Your subscription ends in {days} day, on {date}. Renew it so you stay connected.",
        "⏰ Your subscription ends in {days} days, on {date}. Renew it so you stay connected."), (
        "⏰ Подписка закончится через {days} день, {date}. Продлите её, чтобы оставаться на связи.",
        "⏰ Подписка закончится через {days} дня, {date}. Продлите её, чтобы оставаться на связи.",
        "⏰ Подписка закончится через {days} дней, {date}. Продлите её, чтобы оставаться на связи.")),
    "notice.admin_grant": ("days", (
        "🎁 You have been given <b>{days} extra day</b> of VPN. Your subscription is valid until {date}.",
        "🎁 You have been given <b>{days} extra days</b> of VPN. Your subscription is valid until {date}."), (
        "🎁 Вам начислен <b>{days} дополнительный день</b> VPN. Подписка действует до {date}.",
        "🎁 Вам начислено <b>{days} дополнительных дня</b> VPN. Подписка действует до {date}.",
        "🎁 Вам начислено <b>{days} дополнительных дней</b> VPN. Подписка действует до {date}.")),
    "admin.granted": ("days", (
        "Granted {days} day: valid until {date}.", "Granted {days} days: valid until {date}."), (
        "Начислен {days} день: действует до {date}.", "Начислено {days} дня: действует до {date}.",
        "Начислено {days} дней: действует до {date}.")),
    "admin.purchase_plan": ("days", ("{days}-day plan", "{days}-day plan"), (
        "тариф на {days} день", "тариф на {days} дня", "тариф на {days} дней")),
    "admin.stats_revenue_line": ("count", (
        "• {today} / {week} / <b>{month}</b> ({count} payment in 30 days)",
        "• {today} / {week} / <b>{month}</b> ({count} payments in 30 days)"), (
        "• {today} / {week} / <b>{month}</b> ({count} платёж за 30 дней)",
        "• {today} / {week} / <b>{month}</b> ({count} платежа за 30 дней)",
        "• {today} / {week} / <b>{month}</b> ({count} платежей за 30 дней)")),
    "admin.broadcast_too_long": ("max", (
        "This text is too long (at most {max} character). Send a shorter one.",
        "This text is too long (at most {max} characters). Send a shorter one."), (
        "Текст слишком длинный (не больше {max} символа). Пришлите покороче.",
        "Текст слишком длинный (не больше {max} символов). Пришлите покороче.",
        "Текст слишком длинный (не больше {max} символов). Пришлите покороче.")),
    "export.sending": ("rows", (
        "📄 Export #{id} ({kind}): {rows} row, sending the file…", "📄 Export #{id} ({kind}): {rows} rows, sending the file…"), (
        "📄 Выгрузка #{id} ({kind}): {rows} строка, отправляю файл…", "📄 Выгрузка #{id} ({kind}): {rows} строки, отправляю файл…",
        "📄 Выгрузка #{id} ({kind}): {rows} строк, отправляю файл…")),
    "export.done": ("rows", (
        "📄 Export #{id} ({kind}): {rows} row, sent.", "📄 Export #{id} ({kind}): {rows} rows, sent."), (
        "📄 Выгрузка #{id} ({kind}): {rows} строка, отправлено.", "📄 Выгрузка #{id} ({kind}): {rows} строки, отправлено.",
        "📄 Выгрузка #{id} ({kind}): {rows} строк, отправлено.")),
    "export.caption": ("rows", ("Export #{id}: {kind}, {rows} row", "Export #{id}: {kind}, {rows} rows"), (
        "Выгрузка #{id}: {kind}, {rows} строка", "Выгрузка #{id}: {kind}, {rows} строки", "Выгрузка #{id}: {kind}, {rows} строк")),
}

# Texts payments wrote inline in English (the invoice description a payer sees in Crypto Bot).
ADDED: dict[str, tuple[str | tuple[str, str], str | tuple[str, str, str], str | None]] = {
    "invoice.cryptobot_description": (
        ("VPN access, plan {plan}: {days} day", "VPN access, plan {plan}: {days} days"),
        ("Доступ к VPN, тариф {plan}: {days} день", "Доступ к VPN, тариф {plan}: {days} дня",
         "Доступ к VPN, тариф {plan}: {days} дней"), "days"),
    "invoice.topup_description": ("Balance top-up: {amount}", "Пополнение баланса: {amount}", None),
}


def load(code: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for folder in SOURCES:
        table = json.loads((folder / f"{code}.json").read_text(encoding="utf-8"))
        clash = set(table) & set(merged)
        assert not clash, f"{code}: keys in two catalogues: {sorted(clash)}"
        merged.update(table)
    return merged


def flags(*texts: str) -> set[str]:
    return {"python-brace-format"} if any(FIELD.search(text) for text in texts) else set()


def main() -> None:
    en, ru = load("en"), load("ru")
    assert list(en) == list(ru), "en and ru differ in keys or order"
    assert set(PLURALS) <= set(en) and not set(ADDED) & set(en)
    template = Catalog(project="ATCS", msgid_bugs_address="", copyright_holder="ATCS", fuzzy=False)
    russian = Catalog(locale="ru", project="ATCS", msgid_bugs_address="", copyright_holder="ATCS", fuzzy=False)
    entries = [(key, en[key], ru[key], None) for key in en] + [(key, *value) for key, value in ADDED.items()]
    for key, english, translation, count in entries:
        if key in PLURALS:
            count, english, translation = PLURALS[key]
            assert FIELD.findall(en[key]) and set(FIELD.findall(english[1])) == set(FIELD.findall(en[key])), key
        comments = [f"count: {count}"] if count else []
        texts = english if isinstance(english, tuple) else (english,)
        template.add(english, context=key, auto_comments=comments, flags=flags(*texts))
        russian.add(english, translation, context=key, auto_comments=comments, flags=flags(*texts))
    (OUT / "ru" / "LC_MESSAGES").mkdir(parents=True, exist_ok=True)
    with open(OUT / "messages.pot", "wb") as out:
        write_po(out, template, width=0, omit_header=False)
    with open(OUT / "ru" / "LC_MESSAGES" / "messages.po", "wb") as out:
        write_po(out, russian, width=0)

    # Read back: every key, once, with the text the JSON had (or its plural forms).
    with open(OUT / "messages.pot", "rb") as source:
        pot = {m.context: m for m in read_po(source) if m.id}
    with open(OUT / "ru" / "LC_MESSAGES" / "messages.po", "rb") as source:
        po = {m.context: m for m in read_po(source, locale="ru") if m.id}
    assert len(pot) == len(po) == len(en) + len(ADDED), (len(pot), len(po), len(en), len(ADDED))
    for key in en:
        if key in PLURALS:
            assert pot[key].id == PLURALS[key][1] and po[key].string == PLURALS[key][2], key
        else:
            assert (pot[key].id, po[key].string) == (en[key], ru[key]), key
    print(f"{len(en)} keys from JSON ({len(PLURALS)} now plural) + {len(ADDED)} added = {len(pot)} in messages.pot, "
          f"{len(po)} in ru/LC_MESSAGES/messages.po; admin.alert_claim_contradicted: {'admin.alert_claim_contradicted' in po}")


if __name__ == "__main__":
    main()
