"""Configuration, one pydantic-settings class per concern.

Every variable is `ATCS_<NAME>`; `APP_ENV` (local | stage | prod) picks the environment. As in the
bot we replace, an environment can override any variable by prefix: with APP_ENV=prod,
`ATCS_PROD_BOT_TOKEN` wins over `ATCS_BOT_TOKEN`. Files `.env` and `.env.<APP_ENV>` are read too,
environment variables winning over both.
"""
from __future__ import annotations

import hashlib
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from typing import Annotated

from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_ENVS = ("local", "stage", "prod")
SERVICES = ("bot", "payments", "scheduler", "vpn_gateway")


class ConfigError(Exception):
    """A configuration value is invalid; the message is one line naming the variable."""


def app_env() -> str:
    value = os.environ.get("APP_ENV", "local").strip().lower() or "local"
    if value not in APP_ENVS:
        raise ConfigError(f"APP_ENV={value!r} is invalid: expected one of {', '.join(APP_ENVS)}")
    return value


class _EnvPrefixOverride(PydanticBaseSettingsSource):
    """Reads `ATCS_<APP_ENV>_<NAME>` before `ATCS_<NAME>` (the old bot's per-environment prefixes)."""

    def __init__(self, settings_cls: type[BaseSettings], env: str) -> None:
        super().__init__(settings_cls)
        self._env = env.upper()

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        prefix = self.config.get("env_prefix", "")
        if not prefix.startswith("ATCS_"):
            return None, field_name, False
        rest = prefix[len("ATCS_"):]
        key = f"ATCS_{self._env}_{rest}{field_name}".upper()
        return os.environ.get(key), key, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(field, name)
            if value is not None:
                values[name] = value
        return values


class _Base(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_file_encoding="utf-8")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        env = app_env()
        return (init_settings, _EnvPrefixOverride(settings_cls, env), env_settings,
                dotenv_settings, file_secret_settings)


def _env_files() -> tuple[Path, ...]:
    env = app_env()
    return (REPO_ROOT / ".env", REPO_ROOT / f".env.{env}")


class DatabaseSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="ATCS_")

    # The embedded server's database and roles: the services log in as EMBEDDED_USER, which owns the
    # application's schema and nothing else; EMBEDDED_SUPERUSER is for operators and maintenance.
    EMBEDDED_DATABASE: ClassVar[str] = "atcs"
    EMBEDDED_USER: ClassVar[str] = "atcs"
    EMBEDDED_SUPERUSER: ClassVar[str] = "postgres"
    EMBEDDED_HOST: ClassVar[str] = "127.0.0.1"

    database_url: SecretStr | None = Field(None, description="PostgreSQL URL; empty = embedded server under var/")
    embedded_pg_port: int = Field(54329, ge=1, le=65535, description="port of the embedded PostgreSQL on 127.0.0.1")
    embedded_pg_dir: Path = Field(REPO_ROOT / "var" / "pgdata", description="data directory of the embedded PostgreSQL")
    embedded_pg_passfile: Path = Field(
        REPO_ROOT / "var" / "pgpass",
        description="passwords of the embedded PostgreSQL's roles (pgpass format, mode 0600, made at its first start)")
    pool_bot: int = Field(4, ge=1, le=100, description="bot's pool size")
    pool_payments: int = Field(3, ge=1, le=100, description="payments' pool size")
    pool_scheduler: int = Field(3, ge=1, le=100, description="scheduler's pool size")
    pool_vpn_gateway: int = Field(3, ge=1, le=100, description="vpn_gateway's pool size")
    pool_acquire_timeout: float = Field(2.0, gt=0, le=60, description="seconds to wait for a pool connection")
    db_connect_timeout: float = Field(3.0, gt=0, le=60, description="seconds to wait for a new connection")

    def url(self) -> str:
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return self.embedded_url(self.EMBEDDED_USER, self.EMBEDDED_DATABASE)

    def embedded_url(self, user: str, database: str) -> str:
        """A URL of the embedded server that names the password file, never the password: libpq
        (pg_dump) and asyncpg read the password from it at each connection."""
        passfile = quote(str(self.embedded_pg_passfile.resolve()), safe="/")
        return f"postgresql://{user}@{self.EMBEDDED_HOST}:{self.embedded_pg_port}/{database}?passfile={passfile}"

    @property
    def embedded(self) -> bool:
        return not (self.database_url and self.database_url.get_secret_value())

    def pool_size(self, service: str) -> int:
        return int(getattr(self, f"pool_{service}"))

    def connection(self) -> dict[str, Any]:
        """How the services reach the database, for `atcs config`: never the password itself."""
        if self.embedded:
            return {"host": self.EMBEDDED_HOST, "port": self.embedded_pg_port, "database": self.EMBEDDED_DATABASE,
                    "user": self.EMBEDDED_USER, "password_file": str(self.embedded_pg_passfile.resolve())}
        parts = urlsplit(self.url())
        try:
            port = parts.port or 5432
        except ValueError:  # not a number: the URL is shown, not judged, here
            port = None
        return {"host": parts.hostname, "port": port, "database": parts.path.lstrip("/") or None,
                "user": parts.username, "password": "****" if parts.password else None}


class TelegramSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="ATCS_")

    bot_token: SecretStr | None = Field(None, description="Bot API token from @BotFather; empty = demo mode")
    telegram_api_url: str = Field("https://api.telegram.org", description="Bot API base URL")
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list, description="comma-separated Telegram user ids of admins")
    polling_timeout: int = Field(10, ge=0, le=50, description="getUpdates long-poll seconds")
    request_timeout: float = Field(15.0, gt=0, le=120, description="seconds for one Bot API request")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL")
        return value.rstrip("/")


class CryptoPaySettings(_Base):
    model_config = SettingsConfigDict(env_prefix="ATCS_")

    cryptopay_token: SecretStr | None = Field(None, description="Crypto Pay API app token; empty = Crypto Bot disabled")
    cryptopay_api_url: str = Field("https://pay.crypt.bot", description="Crypto Pay API base URL")
    cryptopay_fiat: str = Field("USD", description="fiat currency of invoices")
    cryptopay_accepted_assets: str = Field("USDT,TON,BTC", description="crypto assets a payer may use")
    cryptopay_invoice_ttl: int = Field(3600, ge=60, le=2678400, description="seconds an invoice stays payable")
    cryptopay_currency_type: Literal["fiat", "crypto"] = Field(
        "fiat", description="fiat: invoices priced in ATCS_CRYPTOPAY_FIAT; crypto: in ATCS_CRYPTOPAY_ASSET")
    cryptopay_asset: str = Field("USDT", description="asset of crypto-priced invoices (a stablecoin: the plan price is used as is)")
    cryptopay_timeout: float = Field(10.0, gt=0, le=60, description="seconds for one Crypto Pay API request")
    cryptopay_read_attempts: int = Field(3, ge=1, le=10, description="attempts of a Crypto Pay read (getInvoices) before giving up")
    cryptopay_underpay_tolerance: Decimal = Field(
        Decimal("0.01"), ge=0, le=Decimal("0.1"),
        description="fraction of a fiat invoice that rate rounding may leave unpaid before the payment is flagged")

    @field_validator("cryptopay_fiat", "cryptopay_asset")
    @classmethod
    def _code(cls, value: str) -> str:
        value = value.strip().upper()
        if not value.isalnum() or len(value) > 16:
            raise ValueError("expected a currency code such as USD or USDT")
        return value

    def accepted_assets(self) -> list[str]:
        return [a.strip().upper() for a in self.cryptopay_accepted_assets.split(",") if a.strip()]

    @property
    def shop_currency(self) -> str:
        """The currency of plan prices, invoices and balances: what every amount the shop shows is in."""
        return self.cryptopay_fiat if self.cryptopay_currency_type == "fiat" else self.cryptopay_asset

    @field_validator("cryptopay_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL")
        return value.rstrip("/")


class PaymentsSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="ATCS_")

    payments_host: str = Field("127.0.0.1", description="address the webhook server binds")
    payments_port: int = Field(8081, ge=1, le=65535, description="port of POST /webhooks/cryptobot")
    webhook_max_body: int = Field(65536, ge=1024, description="largest webhook body accepted, bytes")
    webhook_body_timeout: float = Field(5.0, gt=0, le=60, description="seconds a webhook request may take to send its body; a slower client is dropped")
    confirm_retry_base: float = Field(1.0, gt=0, le=600, description="first pause before asking Crypto Pay again about a webhook claim it did not answer for (doubles each time)")
    confirm_retry_max: float = Field(60.0, gt=0, le=3600, description="longest pause between confirmations of a webhook claim; also how often stored claims are scanned")
    reconcile_interval: float = Field(30.0, gt=0, description="seconds between reconciliation passes")
    reconcile_batch: int = Field(100, ge=1, le=1000, description="invoice ids per getInvoices call")
    reconcile_grace: float = Field(300.0, ge=0, description="seconds past an invoice's expiry before it is expired here")
    stars_invoice_ttl: int = Field(3600, ge=60, le=2678400, description="seconds a Stars invoice stays payable")
    topup_min: Decimal = Field(Decimal("1"), gt=0, description="smallest balance top-up, in ATCS_CRYPTOPAY_FIAT")
    topup_max: Decimal = Field(Decimal("1000"), gt=0, description="largest balance top-up, in ATCS_CRYPTOPAY_FIAT")
    nudge_timeout: float = Field(1.0, gt=0, le=10, description="seconds for a best-effort nudge of a peer service")

    @model_validator(mode="after")
    def _topup_range(self) -> "PaymentsSettings":
        if self.topup_min > self.topup_max:
            raise ValueError("ATCS_TOPUP_MIN is above ATCS_TOPUP_MAX")
        return self


class IpcSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="ATCS_")

    run_dir: Path | None = Field(None, description="folder of the ipc:// sockets (mode 0700); default /tmp/atcs-<uid>-<hash>")
    endpoint_bot: str | None = Field(None, description="RPC endpoint of bot (ipc:// or tcp://)")
    endpoint_payments: str | None = Field(None, description="RPC endpoint of payments")
    endpoint_scheduler: str | None = Field(None, description="RPC endpoint of scheduler")
    endpoint_vpn_gateway: str | None = Field(None, description="RPC endpoint of vpn_gateway")
    curve_server_secret: SecretStr | None = Field(None, description="Z85 CURVE secret key of RPC servers (tcp only)")
    curve_server_public: str | None = Field(None, description="Z85 CURVE public key of RPC servers (tcp only)")
    curve_client_secret: SecretStr | None = Field(None, description="Z85 CURVE secret key of RPC clients (tcp only)")
    curve_client_public: str | None = Field(None, description="Z85 CURVE public key of RPC clients (tcp only)")
    rpc_timeout: float = Field(2.0, gt=0, le=60, description="default RPC deadline, seconds")

    def resolved_run_dir(self) -> Path:
        if self.run_dir is not None:
            return self.run_dir
        # Short on purpose: a unix socket path is limited to ~107 bytes.
        digest = hashlib.sha1(str(REPO_ROOT).encode()).hexdigest()[:8]
        return Path("/tmp") / f"atcs-{os.getuid()}-{digest}"

    def endpoint(self, service: str) -> str:
        explicit = getattr(self, f"endpoint_{service}")
        if explicit:
            return explicit
        return f"ipc://{self.resolved_run_dir() / service}.ipc"

    @field_validator("endpoint_bot", "endpoint_payments", "endpoint_scheduler", "endpoint_vpn_gateway")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value and not value.startswith(("ipc://", "tcp://")):
            raise ValueError("expected ipc://path or tcp://host:port")
        return value


class HealthSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="ATCS_")

    health_host: str = Field("127.0.0.1", description="address of /healthz, /readyz, /metrics")
    health_port_bot: int = Field(9101, ge=0, le=65535, description="health port of bot (0 = off)")
    health_port_payments: int = Field(9102, ge=0, le=65535, description="health port of payments")
    health_port_scheduler: int = Field(9103, ge=0, le=65535, description="health port of scheduler")
    health_port_vpn_gateway: int = Field(9104, ge=0, le=65535, description="health port of vpn_gateway")
    shutdown_timeout: float = Field(8.0, gt=0, le=120, description="seconds a service may take to drain on SIGTERM")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    log_format: Literal["auto", "json", "text"] = Field("auto", description="json when not on a TTY by default")

    def port(self, service: str) -> int:
        return int(getattr(self, f"health_port_{service}"))


class ShopSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="ATCS_")

    trial_days: int = Field(3, ge=0, le=60, description="length of the free trial, days")
    trial_traffic_gb: int = Field(10, ge=0, description="traffic limit of the trial, GB (0 = unlimited)")
    referral_bonus_days: int = Field(7, ge=0, le=365, description="days credited to a referrer on the invitee's first payment")
    auto_renew_days_before: int = Field(1, ge=0, le=30, description="auto-renew this many days before expiry")
    support_contact: str = Field("@support", description="who users contact for help")


class BotSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="ATCS_")

    bot_concurrency: int = Field(32, ge=1, le=1000, description="updates the bot handles at once (more wait in Telegram)")
    bot_throttle_rate: float = Field(2.0, gt=0, le=100, description="updates per second one user may send on average")
    bot_throttle_burst: int = Field(8, ge=1, le=1000, description="updates one user may send in a burst")
    bot_rpc_deadline: float = Field(0.6, gt=0, le=10, description="seconds a handler waits on payments/vpn_gateway before 'working on it' (the rest of the 1 s promise is for the update's own work)")
    bot_usage_deadline: float = Field(0.5, gt=0, le=10, description="seconds to wait for live traffic figures")
    bot_nudge_deadline: float = Field(0.3, gt=0, le=10, description="seconds for a best-effort nudge")
    bot_followup_timeout: float = Field(30.0, gt=0, le=600, description="seconds a deferred request keeps retrying before 'try again'")
    bot_pre_checkout_deadline: float = Field(6.0, gt=0, le=9, description="seconds to wait for payments on a Stars pre-checkout (Telegram allows 10)")
    bot_notify_interval: float = Field(2.0, gt=0, le=60, description="seconds between scans of the notification outbox")
    bot_notify_concurrency: int = Field(8, ge=1, le=100, description="notifications sent at once")
    bot_retry_after_max: float = Field(30.0, ge=0, le=600, description="longest 429 retry_after a request waits out before giving up")
    bot_admin_deadline: float = Field(2.0, gt=0, le=30, description="seconds an admin screen waits on a service (status, refund, broadcast, export, bulk reissue)")
    supervisor_socket: Path = Field(REPO_ROOT / "var" / "run" / "supervisor.sock", description="supervisord's unix socket, read by the admin status screen")


class VpnServer(BaseModel):
    """One VPN panel in ATCS_VPN_SERVERS. Its URL and token are credentials (Outline's apiUrl
    carries the secret path prefix), so both are SecretStr and never printed."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="our name for it; stored in vpn_accounts.server")
    backend: Literal["outline", "remnawave", "marzban", "3x-ui"] = Field(description="panel kind")
    api_url: SecretStr = Field(description="Outline: the apiUrl the server printed; Remnawave, Marzban, 3x-ui: the panel's base URL (3x-ui: with its web base path)")
    cert_sha256: str | None = Field(
        None, description="SHA-256 of the panel's TLS certificate, 64 hex digits, colons optional (Outline: the "
                          "certSha256 it printed): only a certificate with this fingerprint is accepted, whatever "
                          "its chain or hostname (for a self-signed panel); without it the system CAs verify it")
    token: SecretStr | None = Field(None, description="Remnawave API token (Bearer)")
    capacity: int = Field(1000, ge=1, description="most active accounts the server takes")
    weight: float = Field(1.0, gt=0, le=100, description="preference among servers of equal load")
    accepts_new: bool = Field(True, description="false drains the server: existing accounts stay, new users go elsewhere")
    max_concurrency: int = Field(4, ge=1, le=256, description="panel requests in flight at once")
    connect_timeout: float = Field(3.0, gt=0, le=60, description="seconds to connect")
    request_timeout: float = Field(10.0, gt=0, le=300, description="seconds for one panel request")
    retries: int = Field(2, ge=0, le=10, description="extra attempts of one request on 5xx, 429 and network errors")
    squads: list[str] = Field(default_factory=list, description="Remnawave internal squad UUIDs given to new users")
    admin_username: SecretStr | None = Field(None, description="Marzban admin username (POST /api/admin/token); 3x-ui panel login username (POST /login)")
    admin_password: SecretStr | None = Field(None, description="Marzban admin password; 3x-ui panel login password")
    inbound_id: int | None = Field(None, ge=1, description="3x-ui: id of the inbound new clients are added to")
    flow: Literal["", "xtls-rprx-vision"] = Field(
        "", description="3x-ui: XTLS flow of new VLESS clients (xtls-rprx-vision for a VLESS Reality/TLS inbound)")
    proxies: list[Literal["vless", "vmess", "trojan", "shadowsocks"]] = Field(
        default_factory=lambda: ["vless"], min_length=1,
        description="Marzban protocols a new user gets (all inbounds of each)")

    @field_validator("cert_sha256", mode="before")
    @classmethod
    def _fingerprint(cls, value: Any) -> Any:
        # Stored as Outline prints it (upper case, no colons); the value is not echoed.
        if value is None:
            return None
        digits = value.replace(":", "").strip() if isinstance(value, str) else ""
        if len(digits) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ValueError("must be the certificate's SHA-256: 64 hex digits, colons allowed "
                             "(as Outline prints certSha256)")
        return digits.upper()

    @model_validator(mode="after")
    def _check(self) -> "VpnServer":
        # Messages name the field, never the value: the value is a credential.
        if not self.api_url.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("api_url must be an http(s) URL")
        if self.cert_sha256 is not None and not self.api_url.get_secret_value().startswith("https://"):
            raise ValueError("cert_sha256 needs an https api_url (plain http has no certificate to pin)")
        if self.backend == "remnawave" and not (self.token and self.token.get_secret_value()):
            raise ValueError("a remnawave server needs a token")
        if self.backend == "marzban" and not all(s and s.get_secret_value()
                                                 for s in (self.admin_username, self.admin_password)):
            raise ValueError("a marzban server needs admin_username and admin_password")
        if self.backend == "3x-ui" and not all(s and s.get_secret_value()
                                               for s in (self.admin_username, self.admin_password)):
            raise ValueError("a 3x-ui server needs admin_username and admin_password")
        if self.backend == "3x-ui" and self.inbound_id is None:
            raise ValueError("a 3x-ui server needs inbound_id")
        return self


class VpnSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="ATCS_")

    # The whole list is one secret: it holds panel URLs with secret paths and API tokens.
    vpn_servers: SecretStr = Field(SecretStr("[]"), description="JSON list of VPN servers: name, backend, api_url, token, capacity, weight, max_concurrency, timeouts")
    vpn_worker_concurrency: int = Field(8, ge=1, le=256, description="activations worked on at once (a server gets at most its max_concurrency of them)")
    vpn_max_attempts: int = Field(5, ge=1, le=1000, description="failed attempts after which admins are alerted and the user told it is delayed (retries go on)")
    vpn_retry_base: float = Field(1.0, gt=0, le=600, description="first retry delay of a failed activation, seconds (doubles each time)")
    vpn_retry_max: float = Field(60.0, gt=0, le=3600, description="longest retry delay of a failed activation, seconds")
    vpn_lease_seconds: float = Field(120.0, ge=5, le=3600, description="how long a claimed activation is hidden from other claims; one attempt must end within it")
    vpn_scan_interval: float = Field(2.0, gt=0, le=300, description="seconds between scans of the activation queue when not nudged")
    vpn_usage_cache_ttl: float = Field(60.0, ge=0, le=86400, description="seconds a usage figure is served without asking the panel")
    vpn_usage_timeout: float = Field(0.4, gt=0, le=30, description="seconds a usage request waits on the panel before answering from the cache")
    vpn_breaker_threshold: int = Field(5, ge=1, le=1000, description="consecutive failures that open a server's circuit breaker")
    vpn_breaker_cooldown: float = Field(10.0, gt=0, le=3600, description="seconds an open breaker waits before a trial request")
    vpn_health_interval: float = Field(10.0, gt=0, le=3600, description="seconds between health probes of each server")
    vpn_bulk_concurrency: int = Field(4, ge=1, le=256, description="reissues of one bulk job in the activation queue at once")
    _servers: list[VpnServer] = PrivateAttr(default_factory=list)

    def model_post_init(self, _context: Any) -> None:
        self._servers = _parse_vpn_servers(self.vpn_servers.get_secret_value())

    @property
    def servers(self) -> list[VpnServer]:
        return list(self._servers)


def _parse_vpn_servers(raw: str) -> list[VpnServer]:
    # Parsed here rather than by pydantic-settings so that no error message can echo the value.
    try:
        items = orjson.loads(raw or "[]")
    except orjson.JSONDecodeError:
        raise ConfigError("ATCS_VPN_SERVERS is invalid: not valid JSON") from None
    if not isinstance(items, list):
        raise ConfigError("ATCS_VPN_SERVERS is invalid: expected a JSON list of servers")
    servers: list[VpnServer] = []
    for index, item in enumerate(items):
        try:
            servers.append(VpnServer.model_validate(item))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "server"
            raise ConfigError(f"ATCS_VPN_SERVERS is invalid: server {index}: {where}: {error['msg']}") from None
    names = [s.name for s in servers]
    if len(set(names)) != len(names):
        raise ConfigError("ATCS_VPN_SERVERS is invalid: server names must be unique")
    return servers


class SchedulerSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="ATCS_")

    scheduler_tick: float = Field(60.0, gt=0, le=3600, description="seconds between passes of the timed jobs (reminders, trial notices, expiry, auto-renewal)")
    scheduler_batch: int = Field(200, ge=1, le=10000, description="subscriptions handled per transaction by a timed job")
    reminder_days: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [3, 1], description="comma-separated days before expiry at which a reminder is sent")
    trial_ending_hours: int = Field(24, ge=1, le=720, description="hours before a trial ends that its notice is sent")
    fsm_idle_days: int = Field(30, gt=0, description="days a bot conversation's unfinished flow (FSM state) is kept after its last step")
    leader_retry_interval: float = Field(5.0, gt=0, le=300, description="seconds a standby scheduler waits before trying the leader lock again")
    leader_check_interval: float = Field(2.0, gt=0, le=60, description="seconds between checks that the leader's lock connection is alive")
    scheduler_nudge_timeout: float = Field(0.5, gt=0, le=10, description="seconds for a best-effort nudge of bot or vpn_gateway")
    broadcast_rate: float = Field(25.0, gt=0, le=1000, description="broadcast messages per second, overall (Telegram allows about 30 per bot)")
    broadcast_chat_interval: float = Field(1.0, ge=0, le=60, description="seconds between two messages to one chat")
    broadcast_concurrency: int = Field(8, ge=1, le=256, description="broadcast requests in flight at once")
    broadcast_progress_interval: float = Field(3.0, gt=0, le=600, description="seconds between edits of the admin's progress message")
    broadcast_max_attempts: int = Field(3, ge=1, le=20, description="attempts per recipient on transient errors (5xx, network) before it counts as failed")
    export_dir: Path = Field(REPO_ROOT / "var" / "exports", description="folder of CSV exports (mode 0700)")
    export_keep_hours: float = Field(24.0, gt=0, description="hours an export file is kept after it was made")
    export_timeout: float = Field(1800.0, gt=0, description="seconds one export may stream from the database")
    export_rate_mb: float = Field(8.0, ge=0, description="MB per second an export reads from the database (0 = as fast as it can): keeps PostgreSQL's CPU for the bot")
    export_max_upload_mb: int = Field(50, ge=1, le=2000, description="largest document the Bot API accepts, MB: bigger CSVs are gzipped first")
    export_upload_timeout: float = Field(300.0, gt=0, description="seconds to upload one export to Telegram")
    backup_enabled: bool = Field(True, description="make a daily pg_dump backup")
    backup_dir: Path = Field(REPO_ROOT / "var" / "backups", description="folder of pg_dump backups (mode 0700)")
    backup_keep: int = Field(7, ge=1, le=1000, description="backups kept: older ones are deleted")
    backup_hour: int = Field(3, ge=0, le=23, description="UTC hour from which the day's backup is made")
    backup_timeout: float = Field(1800.0, gt=0, description="seconds one pg_dump may run")
    scheduler_nice: int = Field(10, ge=0, le=19, description="OS niceness the scheduler process adds to itself: its batch work yields the CPU to the bot")

    @field_validator("reminder_days", mode="before")
    @classmethod
    def _split_days(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("reminder_days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(day < 1 or day > 60 for day in value):
            raise ValueError("each reminder must be 1..60 days before expiry")
        return sorted(set(value), reverse=True)


class Settings:
    """All concerns together; a service reads only the parts it needs."""

    def __init__(self, **overrides: Any) -> None:
        files = _env_files()
        self.app_env = app_env()
        try:
            self.database = DatabaseSettings(_env_file=files)
            self.telegram = TelegramSettings(_env_file=files)
            self.cryptopay = CryptoPaySettings(_env_file=files)
            self.payments = PaymentsSettings(_env_file=files)
            self.ipc = IpcSettings(_env_file=files)
            self.health = HealthSettings(_env_file=files)
            self.shop = ShopSettings(_env_file=files)
            self.bot = BotSettings(_env_file=files)
            self.scheduler = SchedulerSettings(_env_file=files)
            self.vpn = VpnSettings(_env_file=files)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None
        except SettingsError as exc:
            raise ConfigError(f"{exc}") from None
        for key, value in overrides.items():
            setattr(self, key, value)

    def sections(self) -> dict[str, BaseSettings]:
        return {"database": self.database, "telegram": self.telegram, "cryptopay": self.cryptopay,
                "payments": self.payments, "ipc": self.ipc, "health": self.health, "shop": self.shop,
                "bot": self.bot, "scheduler": self.scheduler, "vpn": self.vpn}


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "?"
    variable = f"ATCS_{field}".upper()
    given = error.get("input")
    # A secret's value is never echoed back, even when it is the invalid one.
    secret = any(word in field for word in ("token", "secret", "database_url"))
    shown = "" if secret or isinstance(given, (dict, type(None))) else f" (got {given!r})"
    return f"{variable} is invalid{shown}: {error['msg']}"


def effective_config() -> dict[str, dict[str, Any]]:
    """What `atcs config` prints: every value in force, secrets masked."""
    settings = Settings()
    result: dict[str, dict[str, Any]] = {"app": {"APP_ENV": settings.app_env}}
    for name, section in settings.sections().items():
        shown: dict[str, Any] = {}
        for field in type(section).model_fields:
            value = getattr(section, field)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif isinstance(value, (Path, Decimal)):
                value = str(value)
            shown[f"ATCS_{field.upper()}"] = value
        result[name] = shown
    db = settings.database
    result["database"]["effective_url"] = _mask_url(db.url())
    result["database"]["connection"] = db.connection()
    return result


def _mask_url(url: str) -> str:
    # postgresql://user:password@host/db -> postgresql://user:****@host/db
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":****"
        return f"{scheme}://{creds}@{host}"
    return url
