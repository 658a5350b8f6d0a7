"""Vietnamese identities: full names, 12-digit CCCD national IDs, email addresses and mobile numbers.

Names are drawn at random; the three identifiers are bijective functions of the customer's index (see
``ids``), so they are unique by construction and a number that belongs to no customer is easy to make.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from etl.synthetic.ids import Purpose, fixed_width, permute, uniform_hash, weighted_choice

# Province codes of the CCCD (the General Statistics Office's codes), weighted roughly by population.
_PROVINCES: tuple[tuple[int, float], ...] = (
    (1, 8.4),  # Hà Nội
    (2, 0.9),  # Hà Giang
    (4, 0.5),  # Cao Bằng
    (6, 0.3),  # Bắc Kạn
    (8, 0.8),  # Tuyên Quang
    (10, 0.8),  # Lào Cai
    (11, 0.6),  # Điện Biên
    (12, 0.5),  # Lai Châu
    (14, 1.3),  # Sơn La
    (15, 0.8),  # Yên Bái
    (17, 0.9),  # Hòa Bình
    (19, 1.3),  # Thái Nguyên
    (20, 0.8),  # Lạng Sơn
    (22, 1.4),  # Quảng Ninh
    (24, 1.9),  # Bắc Giang
    (25, 1.5),  # Phú Thọ
    (26, 1.2),  # Vĩnh Phúc
    (27, 1.5),  # Bắc Ninh
    (30, 1.9),  # Hải Dương
    (31, 2.1),  # Hải Phòng
    (33, 1.3),  # Hưng Yên
    (34, 1.9),  # Thái Bình
    (35, 0.9),  # Hà Nam
    (36, 1.9),  # Nam Định
    (37, 1.0),  # Ninh Bình
    (38, 3.7),  # Thanh Hóa
    (40, 3.4),  # Nghệ An
    (42, 1.3),  # Hà Tĩnh
    (44, 0.9),  # Quảng Bình
    (45, 0.6),  # Quảng Trị
    (46, 1.2),  # Thừa Thiên Huế
    (48, 1.2),  # Đà Nẵng
    (49, 1.5),  # Quảng Nam
    (51, 1.3),  # Quảng Ngãi
    (52, 1.5),  # Bình Định
    (54, 0.9),  # Phú Yên
    (56, 1.3),  # Khánh Hòa
    (58, 0.6),  # Ninh Thuận
    (60, 1.3),  # Bình Thuận
    (62, 0.6),  # Kon Tum
    (64, 1.6),  # Gia Lai
    (66, 1.9),  # Đắk Lắk
    (67, 0.7),  # Đắk Nông
    (68, 1.3),  # Lâm Đồng
    (70, 1.0),  # Bình Phước
    (72, 1.2),  # Tây Ninh
    (74, 2.7),  # Bình Dương
    (75, 3.2),  # Đồng Nai
    (77, 1.2),  # Bà Rịa - Vũng Tàu
    (79, 9.5),  # TP. Hồ Chí Minh
    (80, 1.7),  # Long An
    (82, 1.8),  # Tiền Giang
    (83, 1.3),  # Bến Tre
    (84, 1.0),  # Trà Vinh
    (86, 1.0),  # Vĩnh Long
    (87, 1.6),  # Đồng Tháp
    (89, 1.9),  # An Giang
    (91, 1.8),  # Kiên Giang
    (92, 1.3),  # Cần Thơ
    (93, 0.7),  # Hậu Giang
    (94, 1.2),  # Sóc Trăng
    (95, 0.9),  # Bạc Liêu
    (96, 1.2),  # Cà Mau
)
PROVINCE_CODES = np.array([code for code, _ in _PROVINCES], dtype=np.int64)
_PROVINCE_WEIGHTS = np.array([weight for _, weight in _PROVINCES])

# Two digits after the leading 0 of a mobile number, weighted roughly by the carriers' market shares
# (Viettel, MobiFone, VinaPhone, Vietnamobile, Gmobile).
_PHONE_PREFIXES: tuple[tuple[int, float], ...] = (
    *((p, 5.0) for p in (32, 33, 34, 35, 36, 37, 38, 39, 86, 96, 97, 98)),
    *((p, 3.0) for p in (70, 76, 77, 78, 79, 89, 90, 93)),
    *((p, 3.5) for p in (81, 82, 83, 84, 85, 88, 91, 94)),
    *((p, 1.0) for p in (52, 56, 58, 92)),
    *((p, 0.5) for p in (59, 99)),
)
_PHONE_PREFIX_CODES = np.array([p for p, _ in _PHONE_PREFIXES], dtype=np.int64)
_PHONE_PREFIX_WEIGHTS = np.array([w for _, w in _PHONE_PREFIXES])

_FAMILY_NAMES: tuple[tuple[str, float], ...] = (
    ("Nguyễn", 38.4),
    ("Trần", 11.0),
    ("Lê", 9.5),
    ("Phạm", 7.0),
    ("Hoàng", 3.0),
    ("Huỳnh", 2.1),
    ("Phan", 4.5),
    ("Vũ", 2.0),
    ("Võ", 1.9),
    ("Đặng", 2.1),
    ("Bùi", 2.0),
    ("Đỗ", 1.4),
    ("Hồ", 1.3),
    ("Ngô", 1.3),
    ("Dương", 1.0),
    ("Lý", 0.5),
    ("Đinh", 0.8),
    ("Trương", 0.7),
    ("Lương", 0.5),
    ("Mai", 0.5),
    ("Đào", 0.5),
    ("Cao", 0.4),
    ("Lâm", 0.4),
    ("Hà", 0.4),
    ("Tô", 0.3),
    ("Chu", 0.2),
    ("Tạ", 0.2),
)
_MIDDLE_MALE: tuple[tuple[str, float], ...] = (
    ("Văn", 30.0),
    ("Đức", 9.0),
    ("Minh", 9.0),
    ("Hữu", 7.0),
    ("Quang", 7.0),
    ("Thanh", 6.0),
    ("Công", 5.0),
    ("Quốc", 5.0),
    ("Hoàng", 4.0),
    ("Tuấn", 4.0),
    ("Gia", 4.0),
    ("Xuân", 3.0),
    ("Trọng", 3.0),
    ("Ngọc", 2.0),
    ("Đình", 2.0),
)
_MIDDLE_FEMALE: tuple[tuple[str, float], ...] = (
    ("Thị", 35.0),
    ("Ngọc", 10.0),
    ("Thanh", 7.0),
    ("Minh", 5.0),
    ("Thu", 6.0),
    ("Kim", 5.0),
    ("Phương", 5.0),
    ("Bảo", 4.0),
    ("Khánh", 4.0),
    ("Mỹ", 4.0),
    ("Hoài", 3.0),
    ("Thùy", 4.0),
    ("Quỳnh", 3.0),
    ("Hồng", 3.0),
)
_GIVEN_MALE: tuple[str, ...] = (
    "An", "Anh", "Bảo", "Bình", "Cường", "Dũng", "Duy", "Đạt", "Đức", "Hải", "Hiếu", "Hoàng", "Hùng",
    "Huy", "Khang", "Khánh", "Khoa", "Kiên", "Long", "Luân", "Minh", "Nam", "Nghĩa", "Phong", "Phúc",
    "Quân", "Quang", "Sơn", "Tài", "Thắng", "Thành", "Thiện", "Thịnh", "Toàn", "Trung", "Tuấn", "Tùng",
    "Việt", "Vinh", "Vũ",
)  # fmt: skip
_GIVEN_FEMALE: tuple[str, ...] = (
    "An", "Anh", "Châu", "Chi", "Diệp", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hiền", "Hoa", "Hồng",
    "Huyền", "Hương", "Lan", "Linh", "Loan", "Mai", "My", "Nga", "Ngân", "Ngọc", "Nhi", "Nhung", "Oanh",
    "Phương", "Quyên", "Quỳnh", "Tâm", "Thảo", "Thu", "Thủy", "Trang", "Trinh", "Tuyết", "Uyên", "Vân",
    "Vy", "Yến",
)  # fmt: skip
_EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 60.0),
    ("yahoo.com.vn", 9.0),
    ("yahoo.com", 5.0),
    ("outlook.com", 6.0),
    ("hotmail.com", 5.0),
    ("icloud.com", 5.0),
    ("fpt.vn", 5.0),
    ("vnpt.vn", 5.0),
)

_ID_BLOCK = 10**6
_PHONE_BLOCK = 10**7
# The province code is shifted by the block number, so IDs stay unique up to one block per province.
ID_CAPACITY = len(_PROVINCES) * _ID_BLOCK


def _fold(name: str) -> str:
    """ASCII letters only, as people write their names in email addresses."""
    decomposed = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _probabilities(table: tuple[tuple[str, float], ...]) -> NDArray[np.float64]:
    weights = np.array([w for _, w in table], dtype=np.float64)
    result: NDArray[np.float64] = weights / weights.sum()
    return result


def _strings(values: tuple[str, ...] | list[str]) -> pa.Array:
    result: pa.Array = pa.array(values, type=pa.string())
    return result


_FAMILY = _strings([n for n, _ in _FAMILY_NAMES])
_FAMILY_ASCII = _strings([_fold(n) for n, _ in _FAMILY_NAMES])
_FAMILY_P = _probabilities(_FAMILY_NAMES)
# Male and female lists are concatenated so one index array (offset for women) picks from either.
_MIDDLE = _strings([n for n, _ in _MIDDLE_MALE] + [n for n, _ in _MIDDLE_FEMALE])
_MIDDLE_ASCII = _strings([_fold(n) for n, _ in _MIDDLE_MALE] + [_fold(n) for n, _ in _MIDDLE_FEMALE])
_MIDDLE_MALE_P = _probabilities(_MIDDLE_MALE)
_MIDDLE_FEMALE_P = _probabilities(_MIDDLE_FEMALE)
_GIVEN = _strings(list(_GIVEN_MALE) + list(_GIVEN_FEMALE))
_GIVEN_ASCII = _strings([_fold(n) for n in _GIVEN_MALE + _GIVEN_FEMALE])
_DOMAINS = _strings([d for d, _ in _EMAIL_DOMAINS])
_DOMAINS_P = _probabilities(_EMAIL_DOMAINS)
_EMAIL_PATTERN_P = np.array([0.3, 0.25, 0.2, 0.25])


@dataclass(frozen=True)
class Identities:
    national_id: pa.Array
    full_name: pa.Array
    email: pa.Array
    phone_number: pa.Array


def national_ids(
    index: NDArray[np.int64], female: NDArray[np.bool_], birth_year: NDArray[np.int64], seed: int
) -> pa.Array:
    """CCCD numbers: province (3 digits), gender and century (1), birth year (2), then 6 digits.

    The province and the last six digits together are a bijection of the index (for indices below
    ``ID_CAPACITY``); the gender/century digit and the birth year only describe the person.
    """
    within, block = index % _ID_BLOCK, index // _ID_BLOCK
    tail = permute(within, _ID_BLOCK, (seed, Purpose.ID_TAIL))
    home = weighted_choice(uniform_hash(within, (seed, Purpose.ID_PROVINCE)), _PROVINCE_WEIGHTS)
    province = PROVINCE_CODES[(home + block) % PROVINCE_CODES.size]
    gender_century = female.astype(np.int64) + 2 * (birth_year >= 2000)
    value = province * 10**9 + gender_century * 10**8 + (birth_year % 100) * 10**6 + tail
    return fixed_width(value, 12)


def _phone_numbers(index: NDArray[np.int64], seed: int) -> pa.Array:
    within, block = index % _PHONE_BLOCK, index // _PHONE_BLOCK
    tail = permute(within, _PHONE_BLOCK, (seed, Purpose.PHONE_TAIL))
    carrier = weighted_choice(uniform_hash(within, (seed, Purpose.PHONE_PREFIX)), _PHONE_PREFIX_WEIGHTS)
    prefix = _PHONE_PREFIX_CODES[(carrier + block) % _PHONE_PREFIX_CODES.size]
    # Ten digits with the prefix below 100: the leading zero comes from the padding.
    return fixed_width(prefix * _PHONE_BLOCK + tail, 10)


def _take(values: pa.Array, index: NDArray[np.int64]) -> pa.Array:
    result: pa.Array = values.take(pa.array(index))
    return result


def identities(
    rng: np.random.Generator,
    index: NDArray[np.int64],
    female: NDArray[np.bool_],
    birth_year: NDArray[np.int64],
    seed: int,
) -> Identities:
    """Names, IDs, emails and phones for the customers with these global indices."""
    n = index.size
    family = rng.choice(len(_FAMILY_NAMES), size=n, p=_FAMILY_P)
    middle = np.where(
        female,
        len(_MIDDLE_MALE) + rng.choice(len(_MIDDLE_FEMALE), size=n, p=_MIDDLE_FEMALE_P),
        rng.choice(len(_MIDDLE_MALE), size=n, p=_MIDDLE_MALE_P),
    )
    given = np.where(
        female,
        len(_GIVEN_MALE) + rng.integers(0, len(_GIVEN_FEMALE), size=n),
        rng.integers(0, len(_GIVEN_MALE), size=n),
    )
    full_name = pc.binary_join_element_wise(
        _take(_FAMILY, family), _take(_MIDDLE, middle), _take(_GIVEN, given), " "
    )

    family_ascii, middle_ascii, given_ascii = (
        _take(_FAMILY_ASCII, family),
        _take(_MIDDLE_ASCII, middle),
        _take(_GIVEN_ASCII, given),
    )
    initials = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(family_ascii, 0, 1), pc.utf8_slice_codeunits(middle_ascii, 0, 1), ""
    )
    local_part = pc.choose(
        pa.array(rng.choice(_EMAIL_PATTERN_P.size, size=n, p=_EMAIL_PATTERN_P).astype(np.int8)),
        pc.binary_join_element_wise(given_ascii, family_ascii, ""),
        pc.binary_join_element_wise(given_ascii, family_ascii, "."),
        pc.binary_join_element_wise(family_ascii, given_ascii, ""),
        pc.binary_join_element_wise(given_ascii, initials, ""),
    )
    # The name part is letters and dots only, so the digits that follow can be read back unambiguously;
    # the number is a bijection of the index, which makes the whole address unique.
    number = (index // _ID_BLOCK) * _ID_BLOCK + permute(
        index % _ID_BLOCK, _ID_BLOCK, (seed, Purpose.EMAIL_NUMBER)
    )
    domain = _take(_DOMAINS, rng.choice(_DOMAINS_P.size, size=n, p=_DOMAINS_P))
    email = pc.binary_join_element_wise(
        pc.binary_join_element_wise(local_part, pa.array(number).cast(pa.string()), ""), domain, "@"
    )
    return Identities(
        national_id=national_ids(index, female, birth_year, seed),
        full_name=full_name,
        email=email,
        phone_number=_phone_numbers(index, seed),
    )
