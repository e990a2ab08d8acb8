"""What every handler and job can reach: built by the wiring function, opened in post_init."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import Application, CallbackContext, ExtBot

from bot.areas import Areas
from bot.i18n import Translator
from bot.settings import Settings
from storage.engine import SessionFactory

if TYPE_CHECKING:
    from bot.roles import Roles


@dataclass
class Services:
    settings: Settings
    translator: Translator
    areas: Areas
    engine: AsyncEngine | None = None
    _sessions: SessionFactory | None = None

    @property
    def sessions(self) -> SessionFactory:
        if self._sessions is None:
            raise RuntimeError("the database is not open yet (post_init has not run)")
        return self._sessions


SERVICES_KEY = "services"


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with typed access to the services."""

    # Set by handlers.auth.requires for the handler it guards: the roles it checked.
    roles: Roles | None = None

    @property
    def services(self) -> Services:
        return services_of(self.application)


def services_of(application: Application[Any, Any, Any, Any, Any, Any]) -> Services:
    services = application.bot_data[SERVICES_KEY]
    assert isinstance(services, Services)
    return services
