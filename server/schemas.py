"""The API's request and response bodies, as pydantic models: validation and the OpenAPI schemas in one.

Field names keep the seed's API (``full_name``, ``national_id``, ``cat_dependents``…) so its clients keep
working. Requests are strict: no unknown fields, no strings for numbers (but a score row's text codes),
money finite and ≥ 0. Identifier formats are the domain's (:mod:`creditscore.domain.identity`), so the
service accepts exactly what the batch side accepts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from creditscore.domain.identity import EMAIL_PATTERN, NATIONAL_ID_PATTERN, PHONE_PATTERN

MAX_SCORE_ROWS: Final = 1000
MAX_HISTORY_PAGE: Final = 100
#: What a history cursor is made of: URL-safe base64 without padding.
CURSOR_PATTERN: Final = r"^[A-Za-z0-9_-]+$"
MAX_DASHBOARD_HOURS: Final = 168
# Money is what a bank's ledger column holds: VND with at most 2 decimals, up to 10^15 (a DECIMAL(17,2),
# far above any real balance, far below where float64 stops holding cents exactly). The grid also keeps
# every derived ratio finite in float32 (savings / income is at most 10^15 / 0.01) and every amount a number
# DynamoDB stores (no 1e-200).
MAX_MONEY: Final = 1e15
MONEY_DECIMALS: Final = 2
# Feature values of /api/v1/score rows: finite and well inside float32 (3.4e38), which the models compute in.
MAX_FEATURE_MAGNITUDE: Final = 1e15

#: What each pattern-checked field must look like, for error messages that help without echoing input.
FORMATS: Final = {
    "national_id": "9 or 12 digits",
    "email": "an email address such as name@example.com",
    "phone_number": "a Vietnamese phone number: 0 or +84, then 9 or 10 digits",
}


def _yes_no(value: Any) -> Any:
    """The seed's clients send "Yes"/"No"; JSON booleans are accepted too."""
    if isinstance(value, str):
        if value.lower() in ("yes", "no"):
            return value.lower() == "yes"
        raise PydanticCustomError("yes_no", 'expected "Yes", "No", true or false')
    return value


NationalId = Annotated[str, Field(pattern=NATIONAL_ID_PATTERN, examples=["001234567890"])]
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254, examples=["an.nguyen@example.com"])]
Phone = Annotated[str, Field(pattern=PHONE_PATTERN, examples=["0912345678"])]


def _on_money_grid(value: float) -> float:
    if round(value, MONEY_DECIMALS) != value:
        raise PydanticCustomError("money_decimals", "must have at most 2 decimals (VND)")
    return value


Money = Annotated[
    float,
    Field(
        ge=0,
        le=MAX_MONEY,
        allow_inf_nan=False,
        description="VND, 0 to 10^15, at most 2 decimals",
        # Stated in the schema, checked by _on_money_grid: pydantic's own float multiple_of refuses
        # ~8 % of valid amounts above 10^12 (float remainders).
        json_schema_extra={"multipleOf": 10**-MONEY_DECIMALS},
    ),
    AfterValidator(_on_money_grid),
]
YesNo = Annotated[
    bool,
    BeforeValidator(_yes_no),
    WithJsonSchema({"oneOf": [{"type": "boolean"}, {"enum": ["Yes", "No"]}], "default": "No"}),
]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
#: The longest text a row's value may be: a code (``"Có"``, ``"Công nhân"``) or a number written as text.
MAX_CODE_CHARS: Final = 100


def _feature_value(value: Any) -> float | str:
    """A number within the bounds, or text of 1 to :data:`MAX_CODE_CHARS` characters; one error either way
    (a union would report one per member)."""
    if isinstance(value, str):
        if not 1 <= len(value) <= MAX_CODE_CHARS:
            raise PydanticCustomError(
                "code_length", "text must be 1 to {max} characters", {"max": MAX_CODE_CHARS}
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("feature_value", "must be a number, or text where the feature reads codes")
    number = float(value)
    if not -MAX_FEATURE_MAGNITUDE <= number <= MAX_FEATURE_MAGNITUDE:  # NaN fails too
        raise PydanticCustomError("feature_range", "must be a finite number from -10^15 to 10^15")
    return number


FeatureInput = Annotated[
    float | str,
    PlainValidator(_feature_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": -MAX_FEATURE_MAGNITUDE, "maximum": MAX_FEATURE_MAGNITUDE},
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_CODE_CHARS,
                    "description": "Text, only for a feature whose model reads text: a code of its "
                    'training data ("Có", "Yes") or a number written as its column writes them; '
                    "elsewhere 422",
                },
            ]
        }
    ),
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


def now_iso() -> str:
    """Now as the answers write a time: UTC, ISO 8601 to the microsecond, with a Z."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# --- requests --------------------------------------------------------------------------------------------


class NewCustomerRequest(_Request):
    full_name: FullName
    national_id: NationalId
    email: Email
    phone_number: Phone
    income: Money
    savings: Money
    debt: Money
    cat_dependents: YesNo = False
    cat_mortgage: YesNo = False
    cat_savings_account: YesNo = False
    cat_credit_card: YesNo = False


class ExistingCustomerRequest(_Request):
    """Exactly one identifier; email and phone are looked up through the table's indexes."""

    # The schema states the exactly-one rule too: one property of the three.
    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    national_id: NationalId | None = None
    email: Email | None = None
    phone_number: Phone | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ExistingCustomerRequest:
        given = [name for name in ("national_id", "email", "phone_number") if getattr(self, name) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "exactly_one",
                "exactly one of national_id, email, phone_number is required; got {given}",
                {"given": ", ".join(given) or "none"},
            )
        return self

    @property
    def lookup(self) -> tuple[Literal["national_id", "email", "phone_number"], str]:
        if self.national_id is not None:
            return "national_id", self.national_id
        if self.email is not None:
            return "email", self.email
        assert self.phone_number is not None
        return "phone_number", self.phone_number


class ScoreRequest(_Request):
    """Rows of features by name, scored by the segment's models; nothing is stored. A model trained
    through a mapping that declares codes takes them as text (422 ``unknown code`` for any other)."""

    segment: Literal["new", "existing"]
    rows: Annotated[list[dict[str, FeatureInput]], Field(min_length=1, max_length=MAX_SCORE_ROWS)]


class HistoryQuery(_Request):
    # Query strings are text: "limit=20" must parse as a number.
    model_config = ConfigDict(extra="forbid", strict=False)

    national_id: NationalId
    limit: Annotated[int, Field(ge=1, le=MAX_HISTORY_PAGE)] = 20
    cursor: Annotated[str, Field(min_length=1, max_length=2048, pattern=CURSOR_PATTERN)] | None = None


class DashboardQuery(_Request):
    # Query strings are text: "hours=6" must parse as a number.
    model_config = ConfigDict(extra="forbid", strict=False)

    hours: Annotated[int, Field(ge=1, le=MAX_DASHBOARD_HOURS)] = 24


# --- responses -------------------------------------------------------------------------------------------


class CustomerInfo(_Response):
    full_name: str
    national_id: str
    email: str
    phone_number: str


Role = Literal["champion", "challenger"]
#: Which version decided a model's score: the current one, or the challenger a split sent this customer to.
_ROLE_MEANING: Final = (
    "champion: the model's current version scored; challenger: a split sent this customer to the model's "
    "challenger version (named in `version`)"
)


class ModelRef(_Response):
    name: str
    version: str
    role: Role = Field(default="champion", description=_ROLE_MEANING)


class Reason(_Response):
    feature: str
    meaning: str = Field(description="What the feature is, from the feature registry")
    contribution: float = Field(
        description="Added log-odds of default; the largest lower the score most. For an existing customer, "
        "the weighted mean of the scoring models' contributions, weighted as the score is"
    )
    direction: Literal["high", "low"] = Field(
        description="Which side of the feature raised the risk: its value is high (more of it is riskier: "
        "debt, missed payments) or low (less of it is riskier: income, savings, a savings account)"
    )
    wording: str = Field(description="The reason in plain words, e.g. 'Debt is high relative to income'")


class NewCustomerResponse(_Response):
    predicted_score: int = Field(ge=300, le=850)
    predicted_group: str
    probability_of_default: float
    customer_info: CustomerInfo
    model: ModelRef
    reasons: list[Reason]
    request_id: str
    timestamp: str


class ModelScore(_Response):
    score: int
    probability_of_default: float
    version: str
    role: Role = Field(default="champion", description=_ROLE_MEANING)


class ChallengerScore(_Response):
    """A shadow challenger's score of the same customer, recorded beside the champion's; never the answer."""

    version: str
    mode: Literal["shadow"] = "shadow"
    score: int
    probability_of_default: float
    band: str
    seconds: float = Field(description="Time from submitting the rows to the challenger to its scores")


class Aggregation(_Response):
    method: Literal["weighted_mean"]
    weights: dict[str, float] = Field(description="The weight of each model that scored")
    missing_models: list[str] = Field(description="Configured existing-customer models that did not score")
    missing_reasons: dict[str, str] = Field(
        description="Why each missing model did not score: the customer lacks its data (permanent), or, "
        "when degraded answers are allowed, it is not loaded or its inference failed"
    )


#: What a stored customer's score was computed from; an applicant's is always the application.
StoredBasis = Literal["existing-models", "application-only"]
Basis = Literal["application", StoredBasis]


class ExistingCustomerResponse(_Response):
    predicted_score: int = Field(ge=300, le=850)
    predicted_group: str
    basis: StoredBasis = Field(
        description="existing-models: the existing-customer models that have the customer's data scored; "
        "application-only: none has, and the new-customer model scored the stored application"
    )
    model_scores: dict[str, ModelScore]
    aggregation: Aggregation
    degraded: bool = Field(description="Some configured existing-customer model did not score")
    reasons: list[Reason] = Field(
        description="Up to three reasons, largest first, combined from the models that scored"
    )
    customer_info: CustomerInfo
    request_id: str
    timestamp: str


class ExistingCustomerConflict(_Response):
    """The national ID the caller sent, which a customer holds; nothing else of that customer's."""

    national_id: str


class ScoreResult(_Response):
    score: int
    band: str
    probability_of_default: float | None = Field(description="The single model's PD (segment new)")
    model_scores: dict[str, ModelScore]


class ScoreResponse(_Response):
    segment: str
    results: list[ScoreResult]
    request_id: str


# One score as recorded: the customer's last_score and its history record hold it, the history route
# answers it.
class HistoryEntry(_Response):
    scored_at: str
    request_id: str
    segment: str
    predicted_score: int
    predicted_group: str
    basis: Basis | None = Field(default=None, description="What the score was computed from")
    models: dict[str, ModelScore]
    missing_models: list[str] = []
    missing_reasons: dict[str, str] = {}
    api_key_id: str | None = Field(default=None, description="The id of the API key that asked for it")
    challengers: dict[str, ChallengerScore] = Field(
        default={},
        description="Shadow challengers' scores of this customer, by model, when they were ready as the "
        "score was recorded",
    )


class HistoryResponse(_Response):
    national_id: str
    scores: list[HistoryEntry]
    next_cursor: str | None


class ScalingInfo(_Response):
    """Scorecard scaling: ``target`` points at good:bad odds ``target_odds``, ``pdo`` more double them."""

    target: float
    target_odds: float
    pdo: float


StabilityReading = Literal["stable", "watch", "act"]
_READING_MEANING: Final = "< 0.1 stable, 0.1-0.25 watch, > 0.25 act; null without enough data"


class FeatureStability(_Response):
    csi: float | None = Field(description="Characteristic stability index of the input over the window")
    reading: StabilityReading | None = Field(description=_READING_MEANING)


class StabilityInfo(_Response):
    """The version's live population over the window (every worker of the host) against its training
    population: the population stability index of its scores and the characteristic stability index of
    each input it takes."""

    status: Literal["ok", "not_enough_data", "no_reference"] = Field(
        description="ok: figures computed; not_enough_data: fewer scores than min_observations in the "
        "window (or none counted yet); no_reference: the version was published without a reference "
        "distribution, so it has no figures"
    )
    window_seconds: float = Field(description="CREDITSCORE_STABILITY_WINDOW_SECONDS")
    min_observations: int = Field(description="CREDITSCORE_STABILITY_MIN_OBSERVATIONS")
    observations: int = Field(description="Scores the version gave in the window")
    psi: float | None = Field(description="Population stability index of the scores")
    reading: StabilityReading | None = Field(description=_READING_MEANING)
    features: dict[str, FeatureStability] = Field(description="By input; empty without a reference")


class NumberFormatInfo(_Response):
    thousands: str = Field(description="The thousands separator (empty: none)")
    decimal: str = Field(description="The decimal mark")


class ModelInput(_Response):
    """One value a row to score holds, and how the model reads it (recorded in its manifest at training)."""

    name: str
    codes: list[str] | None = Field(
        description="The text codes this input accepts, each standing for the number the model was trained "
        "with; null for a number"
    )
    unknown_code: Literal["refuse", "missing"] | None = Field(
        description="A code not listed: the row is refused (422), or it is read as missing; null for a number"
    )
    missing: Literal["keep", "refuse"] | float = Field(
        description="A missing value: kept missing (the model handles it), refused (422), or read as this "
        "number"
    )
    number_format: NumberFormatInfo | None = Field(
        description='How the input writes numbers as text (e.g. "1.234,5"), besides plain JSON numbers'
    )


class ServedModelInfo(_Response):
    name: str
    version: str
    segment: str
    features: list[str]
    metrics: dict[str, Any]
    created_at: str
    #: The scaling its scores come from: the one it was trained with.
    scaling: ScalingInfo
    inputs: list[ModelInput] = Field(
        description="What a row to POST /api/v1/score holds for this model, by name (the features, unless "
        "the model was trained through a mapping with codes or derived features)"
    )
    stability: StabilityInfo


class ModelsResponse(_Response):
    models: list[ServedModelInfo]


class ReloadResponse(_Response):
    results: dict[str, str]


class Health(_Response):
    status: Literal["ok"]


class Readiness(_Response):
    status: Literal["ready", "not ready"]
    models: dict[str, str]
    dynamodb: str


class BandCount(_Response):
    band: str
    min_score: int
    max_score: int
    count: int


class BinCount(_Response):
    min_score: int
    max_score: int = Field(description="Included; the last bin also holds 850")
    count: int


class VolumeBucket(_Response):
    start: str = Field(description="UTC start of the bucket, ISO 8601")
    count: int


class DashboardModel(_Response):
    name: str
    version: str
    segment: str
    stability: Literal["ok", "not_enough_data", "no_reference"] = Field(
        description="As in GET /api/v1/models: whether psi is known"
    )
    psi: float | None = Field(description="Population stability index of the version's scores")
    psi_reading: StabilityReading | None = Field(description=_READING_MEANING)
    shifted_input: str | None = Field(
        description="The input with the highest characteristic stability index (null while psi is)"
    )
    shifted_csi: float | None = Field(description="That input's characteristic stability index")
    shifted_reading: StabilityReading | None = Field(description=_READING_MEANING)


class DashboardChallenger(_Response):
    """A model's challenger in service, with this worker's shadow comparisons of it (every worker's are in
    the metrics and `creditscore models compare`)."""

    model: str
    version: str
    mode: Literal["shadow", "split"]
    share: float = Field(description="Share of customers a split gives the challenger; 1 in shadow mode")
    compared: int = Field(description="Customers this worker compared in shadow mode since it started")
    band_agreement: float | None = Field(description="Share of them both versions put in one FICO band")
    mean_absolute_difference: float | None = Field(description="Mean |challenger - champion| in points")


class DashboardResponse(_Response):
    """Aggregate figures only: counts of scores given by every worker, no customer data."""

    window_start: str = Field(description="UTC, included")
    window_end: str = Field(description="UTC, excluded; the end of the current volume bucket")
    hours: int
    bucket_minutes: int = Field(description="Width of a volume bucket: 10 for windows up to 6 h, else 60")
    total: int
    bands: list[BandCount] = Field(description="Every FICO band, lowest first, zeros included")
    distribution: list[BinCount] = Field(description="50-point score bins, 300 to 850")
    volume: list[VolumeBucket] = Field(description="Scores per bucket, oldest first, empty ones included")
    segments: dict[str, int]
    models: list[DashboardModel] = Field(description="The models this worker serves")
    challengers: list[DashboardChallenger] = Field(
        default=[], description="The models' challengers this worker serves, in the models' order"
    )
    generated_at: str
    stats_flush_seconds: float = Field(description="How far behind the figures may be")


class FieldProblem(_Response):
    field: str
    message: str


class Problem(_Response):
    """RFC 9457 problem details, with the request id and, for bad input, every bad field."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str
    errors: list[FieldProblem] = Field(default=[], description="The bad fields, at most 50")
    more_errors: int | None = Field(default=None, description="Bad fields found beyond the 50 listed")
    existing_customer: ExistingCustomerConflict | None = None
