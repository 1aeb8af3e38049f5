"""The diary registry: regions (all federal subjects), accounts and ESIA links.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The federal subjects of Russia: two-digit code (as in the tax authority's codes), name and
# the IANA time zone of the regional centre. None is enabled at first.
REGIONS = [
    ("01", "Республика Адыгея", "Europe/Moscow"),
    ("02", "Республика Башкортостан", "Asia/Yekaterinburg"),
    ("03", "Республика Бурятия", "Asia/Irkutsk"),
    ("04", "Республика Алтай", "Asia/Barnaul"),
    ("05", "Республика Дагестан", "Europe/Moscow"),
    ("06", "Республика Ингушетия", "Europe/Moscow"),
    ("07", "Кабардино-Балкарская Республика", "Europe/Moscow"),
    ("08", "Республика Калмыкия", "Europe/Moscow"),
    ("09", "Карачаево-Черкесская Республика", "Europe/Moscow"),
    ("10", "Республика Карелия", "Europe/Moscow"),
    ("11", "Республика Коми", "Europe/Moscow"),
    ("12", "Республика Марий Эл", "Europe/Moscow"),
    ("13", "Республика Мордовия", "Europe/Moscow"),
    ("14", "Республика Саха (Якутия)", "Asia/Yakutsk"),
    ("15", "Республика Северная Осетия — Алания", "Europe/Moscow"),
    ("16", "Республика Татарстан", "Europe/Moscow"),
    ("17", "Республика Тыва", "Asia/Krasnoyarsk"),
    ("18", "Удмуртская Республика", "Europe/Samara"),
    ("19", "Республика Хакасия", "Asia/Krasnoyarsk"),
    ("20", "Чеченская Республика", "Europe/Moscow"),
    ("21", "Чувашская Республика", "Europe/Moscow"),
    ("22", "Алтайский край", "Asia/Barnaul"),
    ("23", "Краснодарский край", "Europe/Moscow"),
    ("24", "Красноярский край", "Asia/Krasnoyarsk"),
    ("25", "Приморский край", "Asia/Vladivostok"),
    ("26", "Ставропольский край", "Europe/Moscow"),
    ("27", "Хабаровский край", "Asia/Vladivostok"),
    ("28", "Амурская область", "Asia/Yakutsk"),
    ("29", "Архангельская область", "Europe/Moscow"),
    ("30", "Астраханская область", "Europe/Astrakhan"),
    ("31", "Белгородская область", "Europe/Moscow"),
    ("32", "Брянская область", "Europe/Moscow"),
    ("33", "Владимирская область", "Europe/Moscow"),
    ("34", "Волгоградская область", "Europe/Volgograd"),
    ("35", "Вологодская область", "Europe/Moscow"),
    ("36", "Воронежская область", "Europe/Moscow"),
    ("37", "Ивановская область", "Europe/Moscow"),
    ("38", "Иркутская область", "Asia/Irkutsk"),
    ("39", "Калининградская область", "Europe/Kaliningrad"),
    ("40", "Калужская область", "Europe/Moscow"),
    ("41", "Камчатский край", "Asia/Kamchatka"),
    ("42", "Кемеровская область — Кузбасс", "Asia/Novokuznetsk"),
    ("43", "Кировская область", "Europe/Kirov"),
    ("44", "Костромская область", "Europe/Moscow"),
    ("45", "Курганская область", "Asia/Yekaterinburg"),
    ("46", "Курская область", "Europe/Moscow"),
    ("47", "Ленинградская область", "Europe/Moscow"),
    ("48", "Липецкая область", "Europe/Moscow"),
    ("49", "Магаданская область", "Asia/Magadan"),
    ("50", "Московская область", "Europe/Moscow"),
    ("51", "Мурманская область", "Europe/Moscow"),
    ("52", "Нижегородская область", "Europe/Moscow"),
    ("53", "Новгородская область", "Europe/Moscow"),
    ("54", "Новосибирская область", "Asia/Novosibirsk"),
    ("55", "Омская область", "Asia/Omsk"),
    ("56", "Оренбургская область", "Asia/Yekaterinburg"),
    ("57", "Орловская область", "Europe/Moscow"),
    ("58", "Пензенская область", "Europe/Moscow"),
    ("59", "Пермский край", "Asia/Yekaterinburg"),
    ("60", "Псковская область", "Europe/Moscow"),
    ("61", "Ростовская область", "Europe/Moscow"),
    ("62", "Рязанская область", "Europe/Moscow"),
    ("63", "Самарская область", "Europe/Samara"),
    ("64", "Саратовская область", "Europe/Saratov"),
    ("65", "Сахалинская область", "Asia/Sakhalin"),
    ("66", "Свердловская область", "Asia/Yekaterinburg"),
    ("67", "Смоленская область", "Europe/Moscow"),
    ("68", "Тамбовская область", "Europe/Moscow"),
    ("69", "Тверская область", "Europe/Moscow"),
    ("70", "Томская область", "Asia/Tomsk"),
    ("71", "Тульская область", "Europe/Moscow"),
    ("72", "Тюменская область", "Asia/Yekaterinburg"),
    ("73", "Ульяновская область", "Europe/Ulyanovsk"),
    ("74", "Челябинская область", "Asia/Yekaterinburg"),
    ("75", "Забайкальский край", "Asia/Chita"),
    ("76", "Ярославская область", "Europe/Moscow"),
    ("77", "Москва", "Europe/Moscow"),
    ("78", "Санкт-Петербург", "Europe/Moscow"),
    ("79", "Еврейская автономная область", "Asia/Vladivostok"),
    ("83", "Ненецкий автономный округ", "Europe/Moscow"),
    ("86", "Ханты-Мансийский автономный округ — Югра", "Asia/Yekaterinburg"),
    ("87", "Чукотский автономный округ", "Asia/Anadyr"),
    ("89", "Ямало-Ненецкий автономный округ", "Asia/Yekaterinburg"),
    ("90", "Запорожская область", "Europe/Moscow"),
    ("91", "Республика Крым", "Europe/Simferopol"),
    ("92", "Севастополь", "Europe/Simferopol"),
    ("93", "Донецкая Народная Республика", "Europe/Moscow"),
    ("94", "Луганская Народная Республика", "Europe/Moscow"),
    ("95", "Херсонская область", "Europe/Moscow"),
]


def upgrade() -> None:
    regions = op.create_table(
        "regions",
        sa.Column("code", sa.String(2), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code", name="pk_regions"),
    )
    op.bulk_insert(
        regions,
        [{"code": c, "name": n, "timezone": tz, "enabled": False, "policy": {}} for c, n, tz in REGIONS],
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("login", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("region", sa.String(2), nullable=False),
        sa.Column("school_id", sa.String(64), nullable=True),
        sa.Column("last_name", sa.String(128), nullable=False),
        sa.Column("first_name", sa.String(128), nullable=False),
        sa.Column("middle_name", sa.String(128), nullable=False),
        sa.Column("name_key", sa.String(400), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("gender", sa.String(1), nullable=False),
        sa.Column("snils_digest", sa.String(64), nullable=True),
        sa.Column("snils_masked", sa.String(16), nullable=True),
        sa.Column("snils_valid", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["region"], ["regions.code"], name="fk_accounts_region_regions"),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("login", name="uq_accounts_login"),
    )
    op.create_index("ix_accounts_snils_digest", "accounts", ["snils_digest"])
    op.create_index("ix_accounts_name_key_birth_date", "accounts", ["name_key", "birth_date"])
    op.create_index("ix_accounts_region_school_id", "accounts", ["region", "school_id"])
    op.create_table(
        "esia_links",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("oid", sa.String(32), nullable=False),
        sa.Column("tier", sa.String(16), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_esia_links_account_id_accounts", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", name="pk_esia_links"),
    )
    op.create_index("ix_esia_links_oid", "esia_links", ["oid"])


def downgrade() -> None:
    op.drop_table("esia_links")
    op.drop_table("accounts")
    op.drop_table("regions")
