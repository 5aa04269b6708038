"""Typed records passed between the stages.

Every stage is a plain function from some of these records to others. They carry
no database sessions, no storage clients and no Prefect objects, so a stage can be
tested with nothing but numpy arrays and these dataclasses.

Coordinates: image pixels of the *repaired* page (upright, deskewed, cropped),
origin top-left, x to the right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

SOFTWARE = "hukou-archive"

DOC_TYPES = (
    "resident_registration",
    "household_register",
    "migration_certificate",
    "move_in_permit",
    "birth_registration",
    "death_deregistration",
    "change_correction",
    "id_card_application",
    "other",
)

FIELD_KEYS = (
    "name",
    "former_name",
    "sex",
    "ethnicity",
    "birth_date",
    "birthplace",
    "native_place",
    "id_number",
    "relation_to_head",
    "head_name",
    "education",
    "marital_status",
    "occupation",
    "employer",
    "address",
    "move_from",
    "move_to",
    "move_reason",
    "event_date",
    "father_name",
    "mother_name",
    "registration_date",
    "serial_no",
)

DAMAGE_KINDS = ("stain", "faded", "crease", "hole", "missing_corner", "tear", "blur")

LINK_STATUSES = ("linked", "review", "new", "conflict")

ScannerKind = Literal["flatbed", "camera", "auto"]


@dataclass(frozen=True)
class Location:
    """Where the paper lives: the second of the two copies."""

    repository: str = ""
    room: str = ""
    shelf: str = ""
    box: str = ""
    fonds: str = ""
    volume: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "repository": self.repository,
            "room": self.room,
            "shelf": self.shelf,
            "box": self.box,
            "fonds": self.fonds,
            "volume": self.volume,
        }


@dataclass(frozen=True)
class BatchManifest:
    """A scan batch folder as the scanning station wrote it (interfaces.md §1)."""

    batch_id: str
    root: str
    scanner: ScannerKind = "auto"
    device: str = ""
    operator: str = ""
    dpi: int | None = None
    location: Location = field(default_factory=Location)


@dataclass(frozen=True)
class SourceFile:
    """One file of the batch, as received: identity is its SHA-256."""

    name: str  # file name relative to the batch folder
    path: str
    sha256: str
    size: int
    format: str  # "tiff" | "jpeg" | "png" | "pdf" | "unknown"


@dataclass
class Master:
    """One page image decoded from a source file (a multi-page TIFF/PDF gives several).

    `image` is BGR uint8 (or gray uint8) with EXIF orientation already applied; the
    file bytes themselves are never modified.
    """

    source: SourceFile
    frame: int  # 0-based index of the page inside the source file
    page_no: int  # 1-based position in the batch
    image: np.ndarray
    dpi: float | None
    scanner: str  # "flatbed" | "camera"
    capture: dict[str, object] = field(default_factory=dict)  # ICC, bit depth, EXIF, page size…


@dataclass(frozen=True)
class Operation:
    """One repair step and its parameters, for the page's event log."""

    name: str
    params: dict[str, object]


@dataclass(frozen=True)
class DamageFinding:
    kind: str  # one of DAMAGE_KINDS
    score: float  # 0..1, higher = more certain / more severe
    detail: str = ""


@dataclass
class Repaired:
    """Derivatives of a master. The master itself is untouched."""

    image: np.ndarray  # upright, deskewed, cropped, colour kept: the archival image
    ocr_image: np.ndarray  # what the OCR engine reads (seals suppressed, background flattened)
    dpi: float
    rotation: int  # degrees clockwise the scan had to be turned (0/90/180/270)
    skew_deg: float  # tilt as received, counter-clockwise positive
    operations: list[Operation] = field(default_factory=list)
    damage: list[DamageFinding] = field(default_factory=list)
    needs_rescan: bool = False
    rescan_reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CharAlternative:
    char: str
    score: float


@dataclass
class OcrLine:
    """One recognised line. `quad` is 4 (x, y) points clockwise from top-left of the text."""

    quad: tuple[tuple[float, float], ...]
    text: str
    score: float
    vertical: bool = False
    alternatives: list[list[CharAlternative]] = field(default_factory=list)  # per character, n-best
    low_confidence: bool = False
    # per character, where its centre lies along the line (0 = start, 1 = end), when the engine knows:
    # lets the extractor cut one detected box holding several table cells or a label and its value
    char_centers: list[float] = field(default_factory=list)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.quad]
        ys = [p[1] for p in self.quad]
        return (min(xs), min(ys), max(xs), max(ys))


@dataclass
class OcrResult:
    lines: list[OcrLine]
    engine: str
    engine_version: str
    model: str
    width: int
    height: int
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass
class Field:
    """One extracted value: `value` is normalised, `raw` is what the page says."""

    key: str
    value: str
    raw: str
    confidence: float
    flags: list[str] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)
    precision: str | None = None  # dates: "Y" | "YM" | "YMD"
    calendar: str | None = None  # dates: "gregorian" | "lunar" | "minguo" …

    def export(self) -> dict[str, object]:
        out: dict[str, object] = {"value": self.value, "confidence": round(self.confidence, 4)}
        if self.raw != self.value:
            out["raw"] = self.raw
        if self.flags:
            out["flags"] = list(self.flags)
        return out


@dataclass
class Mention:
    """A person named on a page, with the role the page gives them."""

    role: str  # subject | household_member | father | mother | head | other
    fields: dict[str, Field] = field(default_factory=dict)


@dataclass
class Extraction:
    doc_type: str
    doc_type_confidence: float
    fields: dict[str, Field]  # the principal person's, plus page-level fields
    mentions: list[Mention] = field(default_factory=list)
    review: list[str] = field(default_factory=list)  # human-readable reasons a clerk should look


@dataclass
class LinkResult:
    status: str  # one of LINK_STATUSES
    person_id: str | None
    score: float
    reasons: list[str] = field(default_factory=list)
    candidates: list[tuple[str, float]] = field(default_factory=list)

    def export(self) -> dict[str, object]:
        out: dict[str, object] = {"status": self.status, "person_id": self.person_id, "score": round(self.score, 4)}
        if self.reasons:
            out["reasons"] = list(self.reasons)
        if self.status == "conflict" and self.candidates:
            out["candidates"] = [pid for pid, _ in self.candidates]
        return out


@dataclass(frozen=True)
class ArchiveMetadata:
    """What the PDF/A's XMP carries: the archival reference code and provenance."""

    title: str
    batch_id: str
    page_no: int
    location: Location
    master_sha256: str
    software_version: str
    operator: str = ""
    device: str = ""
    capture_date: str = ""  # ISO date-time
    document_date: str = ""  # ISO date, when the page records one
    creator: str = ""  # 责任者: the registering office, when known
    doc_type: str = "other"


@dataclass(frozen=True)
class PdfaReport:
    valid: bool
    flavour: str  # "2b"
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredObject:
    uri: str
    key: str
    sha256: str
    size: int
    version_id: str | None = None
    retention_until: str | None = None
