"""/overzicht: per wijk residents, channel followers, teams and groups; what waits; what sleeps."""

from __future__ import annotations

from html import escape

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update, User

from bot import overview
from bot.callbacks import Button, pack, row_id
from bot.channels import follower_count
from bot.i18n import Lang
from bot.inbox import KEEP_DEAD
from bot.overview import Group, OverviewError, Team, WijkLine
from bot.roles import Role
from bot.services import BotContext
from bot.teams import TeamStatus
from handlers import notify
from handlers.auth import requires
from handlers.common import lang_for, show
from handlers.fallback import button, stale_button
from handlers.keyboards import bold, miniapp_rows


def _counts(lang: Lang, counts: dict[str, int]) -> str:
    _ = lang.gettext
    labels = {
        TeamStatus.APPROVED: _("actief"),
        TeamStatus.PENDING: _("wacht"),
        TeamStatus.PAUSED: _("gepauzeerd"),
    }
    shown = [f"{counts[s]} {labels[s]}" for s in overview.LIVING if counts.get(s)]
    return ", ".join(shown) if shown else "0"


def _wijk_line(lang: Lang, line: WijkLine) -> str:
    _ = lang.gettext
    parts = [_("{n} bewoners").format(n=line.residents)]
    if line.channel is not None:
        followers = "?" if line.followers is None else str(line.followers)
        parts.append(_("kanaal: {n} volgers").format(n=followers))
    parts.append(_("teams: {counts}").format(counts=_counts(lang, line.teams)))
    parts.append(_("groepen: {counts}").format(counts=_counts(lang, line.groups)))
    return f"{bold(line.wijk.name)}: " + " · ".join(parts)


@requires(Role.COORDINATOR)
async def overview_command(update: Update, context: BotContext) -> None:
    """/overzicht: the whole city on one screen, with the buttons for what waits."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    data = await overview.build(context.services)
    for line in data.wijken:
        if line.channel is not None:
            line.followers = await follower_count(context.bot, line.channel)
    areas = context.services.areas
    lines = ["<b>" + _("Overzicht") + "</b>", ""]
    lines += [_wijk_line(lang, line) for line in data.wijken]
    uncovered = [line.wijk.name for line in data.wijken if line.uncovered]
    if uncovered:
        lines += ["", "<b>" + _("Zonder team of groep:") + "</b> " + escape(", ".join(uncovered))]
    if context.roles is not None and context.roles.has(Role.ADMIN):
        lines += ["", await _inbox_line(lang, context)]
    buttons: list[list[InlineKeyboardButton]] = []
    if data.pending_teams or data.pending_groups:
        lines += ["", "<b>" + _("Wacht op goedkeuring:") + "</b>"]
    for team in data.pending_teams:
        wijk = areas.wijk(team.wijk)
        lines.append(
            _("Team {name} ({wijk})").format(
                name=escape(team.name), wijk=escape(wijk.name if wijk else team.wijk)
            )
        )
        buttons.append(_decide_row(lang, "tdec", team.id, team.name))
    for group in data.pending_groups:
        wijk = areas.wijk(group.wijk) if group.wijk else None
        lines.append(
            _("Groep {name} ({wijk})").format(
                name=escape(group.title), wijk=escape(wijk.name if wijk else "?")
            )
        )
        buttons.append(_decide_row(lang, "gdec", group.id, group.title))
    dormant: list[tuple[str, Team | Group]] = [("t", t) for t in data.dormant_teams] + [
        ("g", g) for g in data.dormant_groups
    ]
    if dormant:
        days = context.services.settings.dormant_days
        lines += [
            "",
            "<b>" + _("Slapend ({days} dagen geen teken van leven):").format(days=days) + "</b>",
        ]
    for kind, item in dormant:
        name = item.name if isinstance(item, Team) else item.title
        lines.append(
            ("💤 " + _("Team {name}") if kind == "t" else "💤 " + _("Groep {name}")).format(
                name=escape(name)
            )
        )
        buttons.append(
            [
                InlineKeyboardButton(
                    _("Vraag of {name} nog actief is").format(name=name[:30]),
                    callback_data=pack(Button.DORMANT, kind, str(item.id)),
                )
            ]
        )
    buttons += miniapp_rows(lang, context.services.settings.miniapp_url, update.effective_chat)
    await show(update, "\n".join(lines), InlineKeyboardMarkup(buttons) if buttons else None)


async def _inbox_line(lang: Lang, context: BotContext) -> str:
    """For administrators: updates the bot gave up on (dead letters), so a bug is seen."""
    inbox = context.services.inbox
    dead = (await inbox.counts()).dead if inbox is not None else 0
    return lang.gettext("Berichten die de bot niet kon verwerken ({days} dagen): {n}").format(
        days=KEEP_DEAD.days, n=bold(str(dead))
    )


def _decide_row(
    lang: Lang, action: str, item_id: int | None, name: str
) -> list[InlineKeyboardButton]:
    _ = lang.gettext
    short = name[:24]
    return [
        InlineKeyboardButton(
            _("✅ {name}").format(name=short), callback_data=pack(action, "ok", str(item_id))
        ),
        InlineKeyboardButton(
            _("❌ {name}").format(name=short), callback_data=pack(action, "no", str(item_id))
        ),
    ]


@requires(Role.COORDINATOR)
@button(2)
async def on_dormant(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """Ask a sleeping team's contact (or a group's admin), with one button, if it still runs."""
    kind, value = args
    _ = (await lang_for(update, context)).gettext
    item_id = row_id(value)
    try:
        if item_id is None:
            raise OverviewError(overview.NOBODY_TO_ASK)
        sent = await overview.ask_still_active(context.services, kind, item_id)
    except OverviewError as error:
        await query.answer(_(error.key), show_alert=True)
        return
    await query.answer(
        _("Vraag verstuurd.") if sent else _("Deze persoon is niet bereikbaar."),
        show_alert=not sent,
    )


@button(3)
async def on_alive(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """The answer to "still active?"; only the team's contact or the group's admin may give it."""
    kind, value, answer = args
    _ = (await lang_for(update, context)).gettext
    item_id = row_id(value)
    if kind not in ("t", "g") or item_id is None or answer not in ("y", "n"):
        await stale_button(update, context)
        return
    try:
        item = await overview.still_active(context.services, user.id, kind, item_id, answer == "y")
    except OverviewError as error:
        await query.answer(_(error.key), show_alert=True)
        return
    await query.answer()
    await show(
        update,
        _("Dank je! Genoteerd.")
        if answer == "y"
        else _("Genoteerd: gepauzeerd. Weer actief? Laat het de coördinator weten."),
    )
    name = item.name if isinstance(item, Team) else item.title

    def render(lang: Lang) -> tuple[str, None]:
        _ = lang.gettext  # each coordinator's own language
        text = (
            _("{name} is nog actief.")
            if answer == "y"
            else _("{name} is gestopt en staat op pauze.")
        )
        return text.format(name=bold(name)), None

    await notify.tell_coordinators(context, render)
