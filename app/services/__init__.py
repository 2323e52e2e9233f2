"""Business logic shared by the API and the CLI: content workflow, scheduling, cache, sync, backup."""

from dataclasses import dataclass, field


@dataclass
class Services:
    """Shared services handed to resources at composition time (see ``create_app``).

    Attributes:
        token_resolvers: ``resolver(credential) -> Principal | None`` for non-JWT credentials
            (API tokens); the authentication middleware tries each in order.
        extras: services registered by feature areas, by name (roles, cache, hooks...).
    """

    token_resolvers: list = field(default_factory=list)
    extras: dict = field(default_factory=dict)

    def __getattr__(self, name):
        extras = self.__dict__.get("extras", {})
        if name in extras:
            return extras[name]
        raise AttributeError(f"no service named {name!r}")
