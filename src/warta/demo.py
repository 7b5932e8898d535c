"""Demo data: issuers, an editor, an admin, releases in several of the wire's languages.

Loaded once into an empty database through the same intake, review and edition code that the
API uses. Every call issues fresh API keys for the demo users (stored keys are digests, so the old
ones cannot be shown again) and revokes the ones issued before, and gives the demo's live desks new
links: what a start prints is what works until the next start. Keys made with `warta admin` are
not the demo's and are never touched.

The demo's audience needs no outside server: its journalists' email goes to the mail catcher
(`warta serve --demo` without a relay) and its outlet's webhooks to the wire's own outbox, on
127.0.0.1, which the demo alone allows as a webhook target (:data:`DEMO_WEBHOOK_ALLOW`).
"""

from __future__ import annotations

import csv
import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from warta.clock import utcnow
from warta.config import Settings
from warta.editions.service import put_edition
from warta.intake import keys
from warta.intake.keys import Principal
from warta.intake.service import submit
from warta.intake.submission import Contact, Dateline, ReleaseIn, Targets, clean
from warta.model import ApiKey, Organisation, Recipient, Release, User
from warta.model.states import EndpointState, ReleaseStatus
from warta.review import decide
from warta.routing import endpoints
from warta.routing import recipients as rcp
from warta.schedule import publish_due
from warta.store import Store

ORGS: list[dict[str, Any]] = [
    {
        "name": "Pelabuhan Selatan Berhad",
        "domain": "pelabuhan-selatan.example",
        "verified": True,
        "auto_approve": True,
        "about": "Pelabuhan Selatan Berhad operates container terminals in Port Klang and Johor and handles "
        "about four million containers a year.",
    },
    {
        "name": "Nusantara Surya Energi",
        "domain": "nusantara-surya.example",
        "verified": True,
        "auto_approve": False,
        "about": "Nusantara Surya Energi builds and runs solar farms across Indonesia.",
    },
    {
        "name": "Kumo Lingua KK",
        "domain": "kumo-lingua.example",
        "verified": True,
        "auto_approve": False,
        "about": "Kumo Lingua is a Tokyo language-technology company founded in 2019.",
    },
    {
        "name": "Atelier Lumière SAS",
        "domain": "atelier-lumiere.example",
        "verified": False,
        "auto_approve": False,
        "about": "Atelier Lumière conçoit des luminaires à faible consommation à Lyon depuis 2012.",
    },
]

CONTACT = {"name": "Aisyah Rahman", "email": "media@pelabuhan-selatan.example", "phone": "+60 3 5555 0100"}

RELEASES: list[dict[str, Any]] = [
    {
        "org": 0,
        "language": "en",
        "headline": "Pelabuhan Selatan opens Malaysia's first solar-powered container terminal",
        "summary": "The 1.2 million TEU terminal at Port Klang runs its cranes on rooftop solar and batteries.",
        "body": "Pelabuhan Selatan Berhad today opened a container terminal at Port Klang whose cranes and "
        "yard vehicles run on electricity from 48,000 rooftop solar panels and a 60 MWh battery store.\n\n"
        "The terminal can handle 1.2 million twenty-foot containers a year and is expected to cut the "
        "port's diesel use by 30 percent. \"Shipping lines asked us for greener calls, and this is our "
        "answer,\" said chief executive Dato' Hamzah Idris.\n\n"
        "Construction took 26 months and employed 1,400 workers from the Klang Valley.",
        "city": "Kuala Lumpur",
        "country": "MY",
        "sectors": ["top-story", "medtop:04000000", "medtop:06000000"],
        "editions": {
            "ms": (
                "Pelabuhan Selatan buka terminal kontena berkuasa solar pertama di Malaysia",
                "Terminal 1.2 juta TEU di Pelabuhan Klang menggerakkan kren dengan tenaga solar dan bateri.",
                "Pelabuhan Selatan Berhad hari ini membuka terminal kontena di Pelabuhan Klang yang kren dan "
                "kenderaannya digerakkan oleh elektrik daripada 48,000 panel solar dan storan bateri 60 MWj.\n\n"
                "Terminal itu boleh mengendalikan 1.2 juta kontena setahun dan dijangka mengurangkan "
                "penggunaan diesel pelabuhan sebanyak 30 peratus.",
                "Pelabuhan Selatan Berhad mengendalikan terminal kontena di Pelabuhan Klang dan Johor.",
            ),
            "zh-Hans": (
                "南方港口公司启用马来西亚首个太阳能集装箱码头",
                "巴生港这座年吞吐量120万标准箱的码头以屋顶太阳能和电池驱动起重机。",
                "南方港口公司今天在巴生港启用一座集装箱码头，其起重机和场内车辆由4.8万块屋顶太阳能板"
                "和60兆瓦时储能电池供电。\n\n该码头每年可处理120万个标准集装箱，预计可使港口柴油用量减少三成。",
                "南方港口公司在巴生港和柔佛经营集装箱码头。",
            ),
        },
    },
    {
        "org": 0,
        "language": "ms",
        "headline": "Pelabuhan Selatan catat rekod 412,000 kontena pada bulan Oktober",
        "summary": "Jumlah kontena yang dikendalikan meningkat 14 peratus berbanding tahun lalu.",
        "body": "Pelabuhan Selatan Berhad mengendalikan 412,000 kontena dua puluh kaki pada bulan Oktober, "
        "jumlah bulanan tertinggi dalam sejarah syarikat dan 14 peratus lebih tinggi berbanding bulan yang "
        "sama tahun lalu.\n\nPeningkatan itu didorong oleh laluan baharu ke India dan Vietnam serta "
        "pembukaan terminal solar di Pelabuhan Klang. Syarikat menjangkakan pertumbuhan berterusan pada "
        "suku pertama tahun depan apabila dua lagi kren mula beroperasi.",
        "city": "Kuala Lumpur",
        "country": "MY",
        "sectors": ["daily-news", "medtop:04000000"],
        "about": "Pelabuhan Selatan Berhad mengendalikan terminal kontena di Pelabuhan Klang dan Johor serta "
        "mengendalikan kira-kira empat juta kontena setahun.",
    },
    {
        "org": 1,
        "language": "id",
        "headline": "Nusantara Surya Energi resmikan pembangkit listrik tenaga surya 50 MW di Bali",
        "summary": "Pembangkit baru ini memasok listrik untuk sekitar 60.000 rumah tangga.",
        "body": "Nusantara Surya Energi hari ini meresmikan pembangkit listrik tenaga surya berkapasitas "
        "50 megawatt di Kabupaten Karangasem, Bali. Pembangkit ini akan memasok listrik bersih untuk "
        "sekitar 60.000 rumah tangga dan mengurangi emisi karbon sebesar 70.000 ton per tahun.\n\n"
        "Proyek senilai Rp1,1 triliun ini dibangun dalam 18 bulan dan mempekerjakan lebih dari 600 warga "
        "setempat. Perusahaan berencana membangun dua pembangkit serupa di Nusa Tenggara Barat.",
        "city": "Denpasar",
        "country": "ID",
        "sectors": ["medtop:06000000", "business"],
        "contact": {
            "name": "Dewi Lestari",
            "email": "media@nusantara-surya.example",
            "phone": "+62 21 5555 0100",
        },
    },
    {
        "org": 2,
        "language": "ja",
        "headline": "クモ・リンガ、15言語対応のプレスリリース翻訳サービスを開始",
        "summary": "企業の広報担当者向けに、専門用語集に対応した翻訳を提供します。",
        "body": "クモ・リンガ株式会社は本日、プレスリリースを15言語に翻訳する新サービスの提供を開始しました。"
        "企業ごとの用語集に対応し、社名や製品名、証券コードを正確に保ちます。\n\n"
        "東京、大阪、福岡の広報会社30社が試験導入に参加し、翻訳にかかる時間を平均で65%短縮しました。"
        "同社は来年、アジア太平洋地域の通信社との提携を拡大する予定です。",
        "city": "Tokyo",
        "country": "JP",
        "sectors": ["technology", "medtop:13000000"],
        "contact": {"name": "佐藤 遥", "email": "press@kumo-lingua.example", "phone": "+81 3 5555 0142"},
    },
    {
        "org": 2,
        "language": "ar",
        "headline": "كومو لينغوا تفتتح مكتبًا إقليميًا في دبي لخدمة أسواق الخليج",
        "summary": "المكتب الجديد يقدم خدمات الترجمة الصحفية باللغتين العربية والإنجليزية.",
        "body": "أعلنت شركة كومو لينغوا اليوم افتتاح مكتبها الإقليمي في دبي، لتقديم خدمات ترجمة البيانات "
        "الصحفية للشركات في دول مجلس التعاون الخليجي باللغات العربية والإنجليزية واليابانية.\n\n"
        "وسيضم المكتب خمسة وعشرين موظفًا بحلول نهاية العام المقبل، ويعمل مع وكالات العلاقات العامة في "
        "الإمارات والسعودية وقطر. وقالت الشركة إن الطلب على المحتوى المتعدد اللغات ارتفع بنسبة أربعين "
        "في المائة خلال العامين الماضيين.",
        "city": "Dubai",
        "country": "AE",
        "sectors": ["business", "medtop:13000000"],
        "contact": {"name": "ليلى حداد", "email": "dubai@kumo-lingua.example", "phone": "+971 4 555 0142"},
    },
    {
        "org": 3,
        "language": "fr",
        "headline": "Atelier Lumière lance une lampe de bureau qui consomme deux watts",
        "summary": "La lampe Aube est fabriquée à Lyon avec de l'aluminium recyclé.",
        "body": "Atelier Lumière présente aujourd'hui Aube, une lampe de bureau à LED qui consomme deux watts "
        "et éclaire un plan de travail de un mètre carré à 500 lux.\n\nLa lampe est fabriquée dans "
        "l'atelier lyonnais de l'entreprise à partir d'aluminium recyclé, et chaque pièce peut être "
        "remplacée. Elle sera vendue dans 120 magasins en France et en Belgique à partir de janvier.",
        "city": "Lyon",
        "country": "FR",
        "sectors": ["lifestyle", "medtop:01000000"],
        "contact": {"name": "Claire Martin", "email": "presse@atelier-lumiere.example"},
    },
    {
        "org": 1,
        "language": "en",
        "headline": "Nusantara Surya Energi to announce third-quarter results",
        "summary": "Results will be published at the scheduled time; an embargoed copy goes to trusted desks.",
        "body": "Nusantara Surya Energi will publish its results for the third quarter, including output from "
        "its new Bali solar farm, revenue by region and the construction timetable for two plants in West "
        "Nusa Tenggara. Analysts and journalists can join a briefing in Jakarta after publication, and the "
        "company's finance director will take questions in English and Indonesian.",
        "city": "Jakarta",
        "country": "ID",
        "sectors": ["finance", "medtop:04000000"],
        "contact": {
            "name": "Dewi Lestari",
            "email": "media@nusantara-surya.example",
            "phone": "+62 21 5555 0100",
        },
        "release_in": timedelta(minutes=3),
        "circuits": ["asia-pacific-all-sectors"],
    },
]


RECIPIENTS_FILE = "demo-recipients.csv"
# the demo's webhook receiver is the wire itself, on the loopback address
DEMO_WEBHOOK_ALLOW = ("127.0.0.1",)


def demo_settings(settings: Settings) -> Settings:
    """The settings of a demo wire: the loopback address allowed as a webhook target, beside
    whatever WARTA_WEBHOOK_ALLOW allows, for this process only."""
    allow = tuple(dict.fromkeys((*settings.webhook_allow, *DEMO_WEBHOOK_ALLOW)))
    return dataclasses.replace(settings, webhook_allow=allow)


def is_demo_recipients_file(settings: Settings, path: Path) -> bool:
    """Whether `path` is the sample audience this data folder's demo wrote."""
    return path.resolve() == (settings.data_dir / RECIPIENTS_FILE).resolve()


KEYS_FILE = "demo-keys.env"


def write_keys_file(settings: Settings, keys_by_name: dict[str, str]) -> Path:
    """The demo's keys as shell exports (`source data/demo-keys.env`), readable by the owner only:
    the admin's, the editor's and the trusted issuer's (Pelabuhan Selatan)."""
    wanted = {"ADMIN_KEY": "admin: ", "EDITOR_KEY": "editor: ", "ISSUER_KEY": f"issuer: {ORGS[0]['name']}"}
    lines = [
        f"export {var}={key}"
        for var, prefix in wanted.items()
        for who, key in keys_by_name.items()
        if who.startswith(prefix)
    ]
    path = settings.data_dir / KEYS_FILE
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("# the demo's API keys, replaced at every start of the demo\n" + "\n".join(lines) + "\n")
    return path


def load_demo(store: Store, settings: Settings) -> dict[str, str]:
    """Load the demo once; return fresh API keys for its users (revoking their earlier ones) and
    fresh links for its live desks, by role and name."""
    with store.session() as s:
        if s.scalar(select(Organisation.id).where(Organisation.slug == "pelabuhan-selatan-berhad")) is None:
            _create(s, settings)
    publish_due(store)
    _write_recipients(settings)
    out: dict[str, str] = {}
    now = utcnow()
    with store.session() as s:
        for user in s.scalars(
            select(User).where(User.email.like("%@demo.warta.example")).order_by(User.email)
        ):
            for old in s.scalars(
                select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
            ):
                old.revoked_at = now
            out[f"{user.role}: {user.name}"] = keys.issue_key(s, user)
        for desk in s.scalars(select(Recipient).where(Recipient.kind == "desktop").order_by(Recipient.name)):
            stream = endpoints.first(desk, "stream")
            if stream is not None and stream.state == EndpointState.ACTIVE:
                token = endpoints.rotate(stream)
                out[f"live desk: {desk.name}"] = f"{settings.base_url}/desk?token={token}"
    write_keys_file(settings, out)
    return out


def _create(s: Any, settings: Settings) -> None:
    orgs = [
        keys.create_org(
            s,
            o["name"],
            o["domain"],
            verified=o["verified"],
            auto_approve=o["auto_approve"],
            about=o["about"],
        )
        for o in ORGS
    ]
    users = [
        keys.create_user(s, f"{o.name} press office", "issuer", o.id, f"press{i}@demo.warta.example")[0]
        for i, o in enumerate(orgs)
    ]
    editor, _ = keys.create_user(s, "Desk Editor", "editor", None, "editor@demo.warta.example")
    # an audience that needs no outside server: live desktops and a circuit covering them
    rcp.create_circuit(
        s, rcp.CircuitIn(name="Asia-Pacific — all sectors", countries=["MY", "ID", "SG", "JP", "AE"])
    )
    for name, country, langs in (
        ("Kuala Lumpur trading desk", "MY", ["en", "ms"]),
        ("Tokyo desk", "JP", ["ja", "en"]),
    ):
        rcp.create_recipient(
            s, settings, rcp.RecipientIn(kind="desktop", name=name, country=country, languages=langs)
        )
    keys.create_user(s, "Wire Admin", "admin", None, "admin@demo.warta.example")
    desk = Principal(user_id=editor.id, name=editor.name, role="editor", org_id=None)
    now = utcnow()
    for n, r in enumerate(RELEASES):
        org, user = orgs[r["org"]], users[r["org"]]
        who = Principal(user_id=user.id, name=user.name, role="issuer", org_id=org.id)
        data = ReleaseIn(
            headline=r["headline"],
            summary=r["summary"],
            body=r["body"],
            language=r["language"],
            dateline=Dateline(city=r["city"], country=r["country"]),
            sectors=r["sectors"],
            contact=Contact(**r.get("contact", CONTACT)),
            about=r.get("about"),
            targets=Targets(countries=[r["country"]], circuits=r.get("circuits", [])),
            release_at=now + r.get("release_in", timedelta(minutes=-(len(RELEASES) - n) * 7)),
            embargo_until=None,
        )
        release = submit(s, settings, who, org, clean(data, settings.limits), history=True)
        for lang, (headline, summary, body, about) in r.get("editions", {}).items():
            put_edition(
                s,
                settings,
                release,
                lang,
                headline=headline,
                summary=summary,
                body_html="".join(f"<p>{p}</p>" for p in body.split("\n\n")),
                about=f"<p>{about}</p>",
                user_id=user.id,
            )
        # the verified issuers' held releases are approved by the desk; the unverified one waits
        if release.status == ReleaseStatus.HELD and org.verified:
            decide.approve(s, release, desk, "demo")
    s.flush()
    assert s.scalar(select(Release.id).limit(1)) is not None


def _write_recipients(settings: Settings) -> None:
    """A sample audience file for the recipients import of the distribution stage. Written at every
    start, so that its outlet's webhook names the address this wire serves on now."""
    path = settings.data_dir / RECIPIENTS_FILE
    rows = [
        (
            "outlet",
            "The Straits Desk",
            "MY",
            "en;ms",
            "medtop:04000000",
            "",
            f"{settings.base_url}/outbox/webhooks/the-straits-desk",
        ),
        ("journalist", "Siti Nurhaliza", "MY", "ms;en", "top-story", "siti@newsroom.example", ""),
        ("journalist", "Budi Santoso", "ID", "id", "medtop:06000000", "budi@kabar.example", ""),
        ("journalist", "Yuki Tanaka", "JP", "ja;en", "technology", "tanaka@shinbun.example", ""),
        ("journalist", "Layla Haddad", "AE", "ar;en", "business", "layla@akhbar.example", ""),
        ("desktop", "Singapore trading desk", "SG", "en;zh-Hans", "medtop:04000000", "", ""),
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["kind", "name", "country", "languages", "sectors", "email", "webhook_url"])
        writer.writerows(rows)
