"""The import's vocabulary: which header means which lead field, and which stage value which stage.

Pure tables and lookups, shared by csvio's plan and the map file: the header spellings of the common
CRMs and spreadsheets (``ALIASES``, compared in ``header_key`` form), the fields a column can feed
(``IMPORT_FIELDS``), the stage or status cells that name an outcome (``STATUS_VALUES``), and the
checks of ``--map``/``--map-stage`` targets (``target_of``, ``override_keys``, ``stage_targets``).
"""

from __future__ import annotations

from collections.abc import Mapping

from pipectl.config import Config
from pipectl.errors import PipectlError
from pipectl.leads import fold
from pipectl.render import JSON_KEYS

# Columns of pipectl's own export that the database sets itself: not imported from such a file.
# The activity counters derive from touchpoints, which a lead import does not bring: importing them
# would put a lead's counters out of step with its (empty) history.
ACTIVITY = ("touch_count", "last_touch_at", "attempts", "last_outbound_at", "last_reply_at", "last_chance_at")
EXPORT_DERIVED = ("id", "updated_at", *ACTIVITY)
# Fields a column can feed: every field of the JSON lead but those the database sets, and ``note``
# (the lead's first note). A column can also be kept in ``extra`` under its header (what unmapped
# columns get) or ignored (``-``).
IMPORT_FIELDS: tuple[str, ...] = (*(key for key in JSON_KEYS if key not in (*EXPORT_DERIVED, "extra")), "note")
# The two halves of a name (First Name + Last Name, 姓 + 名), joined into ``name``.
NAME_PARTS = ("first_name", "last_name")
# A lead's other addresses (SPEC §12): any number of columns, each cell one address or a list
# separated by ";" (HubSpot's "Additional email addresses"). A second main-email column goes here too.
OTHER_EMAILS = "other_emails"
EXTRA = "extra"
IGNORE = "-"
EXTRA_JSON = "extra (JSON)"


def header_key(text: str) -> str:
    """Header (or stage value) comparison form: width-folded, case-folded, letters and digits only."""
    return "".join(ch for ch in fold(text) if ch.isalnum())


# Header spellings of HubSpot, Salesforce (labels and API names), Pipedrive, Zoho and spreadsheets,
# "|"-separated. A weak alias (rank 1) yields to a strong one when a file has both (Amount beats
# Expected Revenue, Phone beats Mobile).
_STRONG: dict[str, str] = {
    "name": "Name|Full Name|Contact|Contact Name|Deal - Contact person|Person - Name|Person Name|Lead Name"
    "|氏名|名前|お名前|担当者名",
    "first_name": "First Name|FirstName|Given Name|Person - First name|名|下の名前",
    "last_name": "Last Name|LastName|Surname|Family Name|Person - Last name|姓|苗字",
    "email": "Email|Email Address|Person - Email|Person - Email - Work|Contact Email|Work Email|Primary Email"
    "|Email 1|E-mail 1 - Value|メールアドレス|メール|Eメール|Eメールアドレス",
    "other_emails": "Additional email addresses|Additional Emails|Secondary Email|Other Email|Other Emails"
    "|Email 2|Email 3|E-mail 2 - Value|E-mail 3 - Value|メールアドレス2|メールアドレス3",
    "company": "Company|Company Name|Organization|Organisation|Organization Name|Organisation Name|Account Name"
    "|Organization - Name|Person - Organization|Deal - Organization|Company / Account"
    "|会社名|企業名|会社|法人名|組織名|取引先名",
    "phone": "Phone|Phone Number|Telephone|Tel|Person - Phone|Person - Phone - Work|Work Phone|Business Phone"
    "|電話番号|電話",
    "source": "Lead Source|Source|LeadSource|Deal - Source|Person - Source|リードソース|流入元",
    "value": "Value|Amount|Deal Value|Deal - Value|Deal Amount|Opportunity Amount|金額|見込み金額|受注金額|商談金額",
    "stage": "Stage|Deal Stage|StageName|Deal - Stage|Opportunity Stage|Pipeline Stage|ステージ|商談ステージ|フェーズ",
    "status": "Status|Deal - Status|Deal Status|ステータス",
    "owner": "Owner|Lead Owner|Deal Owner|Contact Owner|Record Owner|OwnerId|Owner Name|Deal - Owner"
    "|Person - Owner|Sales Rep|担当者|所有者|営業担当|担当営業",
    "tags": "Tags|Tag|Labels|Label|Deal - Label|Person - Label|Person - Labels|タグ|ラベル",
    "created_at": "Create Date|Created|Created Time|Created Date|Date Created|Created At|Created On|Creation Date"
    "|CreatedDate|Deal - Deal created|作成日|登録日|作成日時|登録日時",
    # A CRM's close date is the expected one of an open deal and the real one of a closed deal: the
    # import takes a closed row's closed_at from it when the file has no closed date of its own.
    "expected_close": "Close Date|Expected Close Date|Expected Close|CloseDate|Closing Date"
    "|Deal - Expected close date|完了予定日|受注予定日|クローズ予定日",
    "closed_at": "Closed Date|Date Closed|Closed On|Closed At|Deal - Deal closed on|Deal closed on"
    "|クローズ日|受注日|失注日|成約日",
    "next_action": "Next Step|Next Action|NextStep|次のステップ|次回アクション",
    "next_action_due": "Next Action Due|Next Step Date|Next Activity Date|次回アクション期限|次回予定日",
    "lost_reason": "Lost Reason|Loss Reason|Closed Lost Reason|Reason Lost|Deal - Lost reason|失注理由",
    "note": "Notes|Note|Comments|Comment|Deal - Note|メモ|備考|コメント",
    # The record's id in the CRM it comes from (Salesforce Id, HubSpot Record ID, Pipedrive ID,
    # Zoho Record Id): a re-import of that CRM's export finds the lead by it.
    "source_id": "Id|Record ID|Deal - ID|Person - ID|Deal ID|Opportunity ID|Lead ID|Contact ID",
}
_WEAK: dict[str, str] = {
    # A deal's own name, where the file has no person to name the lead after (HubSpot's deals export)
    "name": "Deal Name|Opportunity Name|Deal - Title|Deal Title",
    "email": "Person - Email - Home|Person - Email - Other",
    "company": "Account",
    "phone": "Mobile|Mobile Phone|Mobile Phone Number|MobilePhone|Person - Phone - Mobile|Person - Phone - Home"
    "|Person - Phone - Other|携帯電話|携帯電話番号",
    "source": "Original Source",
    "value": "Expected Revenue",
    "stage": "Lead Status",
    "created_at": "Add time|Person - Add time|Deal - Add time",
    "closed_at": "Won Date|Won Time|Lost Date|Lost Time|Deal - Won time|Deal - Lost time",
    "note": "Description",
}
ALIASES: dict[str, tuple[str, int]] = {}
for _rank, _table in ((1, _WEAK), (0, _STRONG)):
    for _field, _spellings in _table.items():
        for _spelling in _spellings.split("|"):
            ALIASES[header_key(_spelling)] = (_field, _rank)
# The canonical field names (as in pipectl's own export) always map, and first. The export's own
# ``extra`` column holds a JSON object, merged into the lead's extra.
for _field in (*IMPORT_FIELDS, *NAME_PARTS, OTHER_EMAILS):
    ALIASES[header_key(_field)] = (_field, 0)
ALIASES["extra"] = (EXTRA_JSON, 0)
JAPANESE_PARTS = {header_key("姓"), header_key("苗字")}
_TARGETS = {header_key(name): name for name in (*IMPORT_FIELDS, *NAME_PARTS, OTHER_EMAILS, EXTRA)}

# Stage or status cells that name an outcome rather than a stage.
STATUS_VALUES = {
    "won": "won", "closedwon": "won", "受注": "won", "成約": "won",
    "lost": "lost", "closedlost": "lost", "失注": "lost",
    "disqualified": "disqualified", "unqualified": "disqualified",
    "open": "open",
    "closedlosttocompetition": "lost",  # Zoho
}  # fmt: skip
# The default deal stages of the common CRMs (labels, and HubSpot's internal ids), as the position
# among four open stages that they are closest to: 0 prospecting, 1 qualifying, 2 connecting,
# 3 closing. Their won and lost stages are in STATUS_VALUES.
CRM_STAGES: dict[str, int] = {
    header_key(value): position
    for position, values in enumerate(
        (
            # Salesforce and Zoho; HubSpot (appointmentscheduled); Pipedrive (Lead In)
            "Prospecting|Appointment Scheduled|Lead In",
            "Qualification|Needs Analysis|Qualified To Buy|Contact Made|Needs Defined",
            "Value Proposition|Id. Decision Makers|Identify Decision Makers|Perception Analysis"
            "|Presentation Scheduled|Decision Maker Bought-In|Demo Scheduled",
            "Proposal/Price Quote|Negotiation/Review|Contract Sent|Proposal Made|Negotiations Started",
        )
    )
    for value in values.split("|")
}
# Headers of a deal's win probability (Salesforce, HubSpot, Pipedrive, Zoho): read only to suggest a
# stage for a value nobody knows (the column itself goes to extra like any other).
PROBABILITY_HEADERS = {
    header_key(h) for h in ("Probability", "Probability (%)", "Deal probability", "Deal - Probability")
}


def target_of(header: str, target: str) -> str:
    """The field a mapping names (``"Expected Close"`` = ``expected_close``), ``extra`` or ``-``."""
    wanted = target.strip()
    if wanted == IGNORE:
        return IGNORE
    found = _TARGETS.get(header_key(wanted))
    if found is None:
        known = ", ".join((*IMPORT_FIELDS, *NAME_PARTS, OTHER_EMAILS, EXTRA))
        raise PipectlError(
            f"cannot map {header!r} to {target!r}: not a lead field; fields: {known} (or - to ignore the column)"
        )
    return found


def override_keys(overrides: Mapping[str, str] | None) -> dict[str, str]:
    return {header_key(header): target_of(header, target) for header, target in (overrides or {}).items()}


def field_of(header: str, overrides: dict[str, str]) -> str | None:
    key = header_key(header)
    if key in overrides:
        return overrides[key]
    alias = ALIASES.get(key)
    return alias[0] if alias else None


def stage_targets(map_stage: Mapping[str, str], config: Config) -> dict[str, str]:
    """``--map-stage`` values checked against the configured stages (and the closed statuses)."""
    by_key = {header_key(name): name for name in config.stage_names}
    by_key.update({status: status for status in ("won", "lost", "disqualified", "open")})
    targets: dict[str, str] = {}
    for value, target in map_stage.items():
        found = by_key.get(header_key(target))
        if found is None:
            choices = ", ".join([*config.stage_names, "won", "lost", "disqualified"])
            raise PipectlError(f"cannot map stage {value!r} to {target!r}: not a stage; use one of {choices}")
        targets[header_key(value)] = found
    return targets


# Headers only one CRM's exports have, which name the system a record id belongs to.
_SYSTEM_HEADERS = {
    "salesforce": "StageName|AccountId|OwnerId|IsDeleted|CreatedDate|IsWon|IsClosed|ForecastCategory|Opportunity ID",
    "zoho": "Closing Date|Created Time|Modified Time",
}
_SYSTEM_KEYS = {system: {header_key(h) for h in headers.split("|")} for system, headers in _SYSTEM_HEADERS.items()}


def source_system(header: list[str], id_column: str) -> str:
    """The CRM whose export a header with a record id column is: ``salesforce``, ``hubspot``,
    ``pipedrive``, ``zoho``, or ``csv`` for a file none of them wrote."""
    if any(cell.strip().startswith(("Deal - ", "Person - ", "Organization - ")) for cell in header):
        return "pipedrive"
    keys = {header_key(cell) for cell in header}
    for system, signs in _SYSTEM_KEYS.items():
        if keys & signs:
            return system
    return "hubspot" if header_key(id_column) == "recordid" else "csv"


def crm_stage(key: str, stages: list[str]) -> str | None:
    """The configured stage a CRM's default stage (in ``header_key`` form) maps to, by its position
    among four (scaled when the pipeline has another number of stages); None for another value."""
    position = CRM_STAGES.get(key)
    if position is None:
        return None
    return stages[round(position * (len(stages) - 1) / 3)]


def closest_stage(probability: str, config: Config) -> str | None:
    """The stage (or won, lost) whose probability is nearest a probability cell: ``40``, ``40 %``
    (percent) or ``0.4`` (a fraction, as HubSpot gives it); None when the cell is no such number."""
    text = probability.strip().rstrip("%").strip()
    try:
        number = float(text)
    except ValueError:
        return None
    if not 0 <= number <= 100:
        return None
    share = number if "." in text and number <= 1 else number / 100
    if share == 0:
        return "lost"
    choices = [(stage.probability, stage.name) for stage in config.stages] + [(1.0, "won")]
    return min(choices, key=lambda choice: abs(choice[0] - share))[1]
