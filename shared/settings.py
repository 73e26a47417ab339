"""Settings of every gongkai process, read from `GONGKAI_*` environment variables."""

import json
import string
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.domain import Category, OfficeLevel

# A development secret so that `make up` works out of the box; every real deployment sets its own.
# 索引号 (DOMAIN.md "The catalogue"): the common scheme 机构代码-类别-年份-流水号.
PLACEHOLDER_ORGANISATION_CODE = "000000000000000000"
DEFAULT_INDEX_NUMBER_FORMAT = "{organisation}-{category:02d}-{year}-{serial:04d}"
DEV_PLATFORM_SECRET = "whsec_Z29uZ2thaS1kZXZlbG9wbWVudC1wbGF0Zm9ybS1zZWNyZXQ="


class OfficeContact(BaseModel):
    """How the public reaches the office's disclosure work: what Art. 12 requires the 公开指南 to
    say (its name, address, hours, telephone, fax and internet contact)."""

    model_config = ConfigDict(extra="forbid")

    disclosure_office: str = Field("", max_length=100)  # 政府信息公开工作机构, e.g. 楠杆镇党政办公室
    address: str = Field("", max_length=200)
    postcode: str = Field("", pattern=r"^([0-9]{6})?$")
    hours: str = Field("", max_length=200)  # 办公时间
    phone: str = Field("", max_length=50)
    fax: str = Field("", max_length=50)
    email: str = Field("", max_length=100)

    def missing(self) -> list[str]:
        return [name for name, value in self.model_dump().items() if not value]


class SiteIdentity(BaseModel):
    """What a government website shows in its footer (政府网站发展指引, 国办发〔2017〕47号)."""

    model_config = ConfigDict(extra="forbid")

    # 网站标识码, given by the 全国政府网站信息报送系统
    site_code: str = Field("", pattern=r"^([0-9A-Z]{10})?$")
    icp_record: str = Field("", max_length=50)  # ICP备案编号
    police_record: str = Field("", max_length=50)  # 公安机关备案号


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GONGKAI_", extra="ignore")

    rabbitmq_url: str = Field("amqp://guest:guest@127.0.0.1:5672/", description="RabbitMQ connection URL")
    mongodb_url: str = Field("mongodb://127.0.0.1:27017/", description="MongoDB (or FerretDB) connection URL")
    namespace: str = Field(
        "gongkai",
        pattern=r"^[a-z][a-z0-9]{0,20}$",
        description="Prefix of the exchange, queue and database names, so that several systems share one server",
    )
    review_levels: int = Field(2, ge=1, le=5, description="Number of review levels every item passes")
    platform_url: str = Field("http://127.0.0.1:8090", description="Base URL of the unified platform's API")
    platform_secret: str = Field(
        DEV_PLATFORM_SECRET, description="Standard Webhooks secret (whsec_…) shared with the platform"
    )
    platform_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one push to the platform")
    publish_max_attempts: int = Field(
        10, ge=1, description="Pushes tried per channel before publication.failed"
    )
    webhook_trusted_networks: list[IPvAnyNetwork] = Field(
        [],
        description="Networks beside the public internet that webhook subscriptions may deliver to, "
        'as JSON (["10.1.0.0/16"]); loopback, private and link-local addresses are refused otherwise',
    )
    subscription_max_failures: int = Field(
        10, ge=1, description="Deliveries in a row that may fail before a webhook subscription is disabled"
    )
    portal_push_url: str = Field(
        "",
        description="When set, the portal channel is an external CMS reached by signed push (as the platform is) "
        "instead of the built-in portal site",
    )
    portal_push_secret: str = Field(
        DEV_PLATFORM_SECRET, description="Standard Webhooks secret shared with that CMS; set your own"
    )
    attachments_base_url: str = Field(
        "http://127.0.0.1:8081",
        description="Base URL of ingest's attachments: the channels link them there, review fetches them for reviewers",
    )
    portal_base_url: str = Field("http://127.0.0.1:8083", description="Public base URL of the portal website")
    portal_tag_authority: str = Field(
        "gongkai.invalid",
        pattern=r"^([a-z0-9-]+(\.[a-z0-9-]+)*|[^@\s,:]+@[a-z0-9-]+(\.[a-z0-9-]+)+)$",
        description="A domain (or e-mail address) the organ holds, naming its Atom entries' ids "
        "(tag URIs): set it once and never change it, or every feed reader sees every item anew",
    )
    ingest_writes_per_minute: float = Field(
        120, gt=0, description="Writes a department may make per minute (per ingest replica)"
    )
    ingest_write_burst: int = Field(
        30, ge=1, description="Writes a department may make at once before the rate applies"
    )
    attachment_workers: int = Field(
        2, ge=1, le=32, description="Worker processes reading uploaded files, per ingest replica"
    )
    attachment_read_seconds: float = Field(
        30, gt=0, description="Time one file may take to be read; beyond it the file is left unread (blocked)"
    )
    attachment_read_memory_mb: int = Field(
        1024,
        ge=256,
        description="Address space of a worker reading files (the interpreter's ~150 MB included)",
    )
    attachment_max_entries: int = Field(
        2000, ge=10, description="Entries a DOCX or XLSX archive may have; beyond, the upload is refused"
    )
    attachment_max_uncompressed_mb: int = Field(
        200, ge=1, description="Size a DOCX or XLSX may inflate to, all entries together; beyond, refused"
    )
    attachment_max_compression_ratio: int = Field(
        200,
        ge=10,
        description="Compression ratio an archive entry over 1 MB may have; beyond, refused (zip bomb)",
    )
    attachment_max_pdf_pages: int = Field(
        2000, ge=1, description="Pages of a PDF that are read; the rest is left unread (blocked)"
    )
    attachment_max_pdf_objects: int = Field(
        500_000, ge=100, description="Objects a PDF may have to be read at all"
    )
    attachment_unattached_hours: float = Field(
        24, gt=0, description="How long an uploaded file waits to be attached before it is deleted"
    )
    attachment_quota_mb: int = Field(
        500, ge=1, description="Size of the files a department may hold uploaded but not yet attached"
    )
    idempotency_hours: float = Field(24, gt=0, description="How long an Idempotency-Key is remembered")
    delivery_limit: int = Field(
        5, ge=1, description="Redeliveries of a failing message before it goes to its DLQ"
    )
    stats_on_time_working_days: int = Field(
        20,
        ge=1,
        le=365,
        description="Working days from formed_on within which a publication is on time (Art. 26)",
    )
    stats_deadlines: dict[Category, Annotated[int, Field(ge=1, le=365)]] = Field(
        default_factory=lambda: {Category.LICENSE: 7, Category.PENALTY: 7},
        description="Working days within which items of these categories are on time, as JSON "
        "(国办发〔2018〕118号: licence and penalty decisions 7); other categories: stats_on_time_working_days",
    )
    stats_disclosure_rate_base: Literal["approved", "received"] = Field(
        "approved", description="What 公开率 divides published items by: approved or received submissions"
    )
    office_name: str = Field(
        "",
        max_length=100,
        description="The office whose disclosure work this is, e.g. 楠杆镇人民政府: the annual report's title names it",
    )
    office_contact: OfficeContact = Field(
        default_factory=OfficeContact,
        description="The office's contact for the portal's 公开指南 and footer, as JSON: disclosure_office, "
        "address, postcode, hours, phone, fax, email",
    )
    site_identity: SiteIdentity = Field(
        default_factory=SiteIdentity,
        description="The portal's footer identity, as JSON: site_code (网站标识码), icp_record, police_record",
    )
    office_level: OfficeLevel = Field(
        OfficeLevel.TOWNSHIP,
        description="The office's level: a township or county makes no 规章, so Table A refuses them",
    )
    token_lifetime_days: float = Field(
        90,
        gt=0,
        description="How long a token issued or rotated by `gongkai admin` is valid; tokens issued before "
        "tokens expired get this long from the upgrade",
    )
    token_warn_days: float = Field(
        14,
        ge=0,
        description="How long before its expiry a token is warned of: answers to it carry "
        "Gongkai-Token-Expires and `gongkai admin list` marks it",
    )
    organisation_code: str = Field(
        PLACEHOLDER_ORGANISATION_CODE,
        pattern=r"^[0-9A-Z]{1,30}$",
        description="The organ's code (its 统一社会信用代码, e.g. 11440300MB2C92345X) that begins every 索引号",
    )
    index_number_format: str = Field(
        DEFAULT_INDEX_NUMBER_FORMAT,
        max_length=100,
        description="How an 索引号 is written (str.format) from organisation, category (its two-digit code), "
        "year (of first publication) and serial (per category and year); category, year and serial are required",
    )
    outbox_poll_seconds: float = Field(1.0, gt=0, description="How often the outbox relay looks for events")
    host: str = Field("127.0.0.1", description="Address the HTTP servers bind to")
    ingest_port: int = 8081
    review_port: int = 8082
    publish_port: int = 8083
    stats_port: int = 8084
    sandbox_port: int = 8090
    log_level: str = Field("INFO", description="Log level of every process")
    otlp_endpoint: str = Field(
        "",
        description="Base URL of an OpenTelemetry collector (OTLP over HTTP, e.g. http://127.0.0.1:4318): "
        "when set, every process exports its traces there; empty, nothing is traced",
    )

    @field_validator("index_number_format")
    @classmethod
    def _index_numbers_stay_unique(cls, template: str) -> str:
        """Without its category, year and serial two items could be given one number."""
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
            template.format(organisation="X", category=1, year=2026, serial=1)
        except (ValueError, KeyError, IndexError) as exc:
            raise ValueError(f"not a format of organisation, category, year and serial: {exc}") from exc
        if missing := {"category", "year", "serial"} - names:
            raise ValueError(f"an 索引号 must name {', '.join(sorted(missing))} to stay unique")
        return template

    def index_number(self, category_code: int, year: int, serial: int) -> str:
        """The 索引号 of the item first published in `year` as the `serial`-th of its category."""
        return self.index_number_format.format(
            organisation=self.organisation_code, category=category_code, year=year, serial=serial
        )

    def database_name(self, owner: str) -> str:
        return f"{self.namespace}_{owner}"

    def as_environment(self) -> dict[str, str]:
        """These settings as the GONGKAI_* variables that give them to a process (tables and
        lists as JSON, as operators write them)."""
        return {
            f"GONGKAI_{name.upper()}": json.dumps(value) if isinstance(value, dict | list) else str(value)
            for name, value in self.model_dump(mode="json").items()
        }

    def development_defaults(self) -> list[str]:
        """The development defaults still in use: each is public, so none belongs in production."""
        found = []
        if self.platform_secret == DEV_PLATFORM_SECRET:
            found.append("GONGKAI_PLATFORM_SECRET is the development secret, which anyone can read")
        if self.portal_push_url and self.portal_push_secret == DEV_PLATFORM_SECRET:
            found.append("GONGKAI_PORTAL_PUSH_SECRET is the development secret, which anyone can read")
        if self.organisation_code == PLACEHOLDER_ORGANISATION_CODE:
            found.append("GONGKAI_ORGANISATION_CODE is a placeholder: every 索引号 would begin with it")
        if missing := self.office_contact.missing():
            found.append(f"GONGKAI_OFFICE_CONTACT lacks {', '.join(missing)}: the 公开指南 cannot say them")
        if urlsplit(self.rabbitmq_url).username == "guest":
            found.append(
                "GONGKAI_RABBITMQ_URL logs in as RabbitMQ's guest: give the services a user of their own"
            )
        return found

    @property
    def token_lifetime(self) -> timedelta:
        return timedelta(days=self.token_lifetime_days)

    @property
    def token_warning(self) -> timedelta:
        return timedelta(days=self.token_warn_days)

    def port_of(self, service: str) -> int:
        return getattr(self, f"{service}_port")


@lru_cache
def get_settings() -> Settings:
    return Settings()
