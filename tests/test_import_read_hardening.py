"""The reading stage refuses what it cannot read faithfully: mixed or unsupported text encodings
(F5), duplicate, unknown or doubly-mapped columns (F6), oversized cells, rows, files and XLSX
archives (F8), and anything in a drop folder that is not a regular file (F9). Each refusal is a
RecoupError with a short message that names the file, never a traceback and never mojibake."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.errors import ImportColumnError, ImportFileError, RecoupError
from recoup.lake import Lake
from recoup.portfolio import files, readers
from recoup.portfolio.flows import import_dir
from recoup.portfolio.readers import Mapping, load_mapping, read_table
from recoup.portfolio.spec import DATASETS
from recoup.portfolio.validate import Context, Validated, validate

RECOUP = str(Path(sys.executable).parent / "recoup")

LOAN_HEADER = (
    "loan_id,borrower_id,product_code,product_type,repayment_method,principal,annual_rate,term_months,"
    "disbursement_date,status"
)
LOAN_ROW = 'L1,C1,CASH3,现金贷,等额本息,"3,000.00",18%,3,2026-08-01,正常'
LOANS = f"{LOAN_HEADER}\n{LOAN_ROW}\n"


def _write(path: Path, data: str | bytes, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def _refused(path: Path, kind: type[RecoupError] = ImportFileError) -> RecoupError:
    with pytest.raises(kind) as info:
        read_table(path)
    return info.value


def _loans(path: Path, mapping: Mapping | None = None) -> Validated:
    return validate(read_table(path), DATASETS["loans"], mapping or Mapping(), Context())


def _loans_refused(path: Path, mapping: Mapping | None = None) -> RecoupError:
    with pytest.raises(ImportColumnError) as info:
        _loans(path, mapping)
    return info.value


def _with_column(header: str, value: str = "x") -> str:
    return f"{LOAN_HEADER},{header}\n{LOAN_ROW},{value}\n"


# ------------------------------------------------------------------------ F5 mixed encodings


def test_f5_utf8_file_with_one_gbk_row_is_refused_naming_the_line(tmp_path: Path) -> None:
    raw = "loan_id,name\nL1,张伟\n".encode() + "L2,李娜\n".encode("gbk")
    err = _refused(_write(tmp_path / "borrowers.csv", raw))
    assert err.code == "import.bad_file"
    assert "mixed text encodings" in err.message and "is UTF-8" in err.message
    assert "line 3" in err.message and f"byte offset {raw.index('李'.encode('gbk'))}" in err.message
    assert err.details["line"] == 3
    # Never mojibake: the message quotes bytes in hex, never a decoded guess.
    assert "ptcp154" not in err.message and "c0 ee" in err.message


def test_f5_gbk_file_with_one_utf8_row_is_refused(tmp_path: Path) -> None:
    raw = b"loan_id,name\n" + "L1,李娜\n".encode("gbk") + "L2,张伟\n".encode() + "L3,王芳芳\n".encode("gbk")
    err = _refused(_write(tmp_path / "borrowers.csv", raw))
    assert "mixed text encodings" in err.message and "line 3 is UTF-8" in err.message


def test_f5_bom_then_gbk_is_refused(tmp_path: Path) -> None:
    raw = b"\xef\xbb\xbf" + "id,name\n1,张\n".encode() + "2,李\n".encode("gbk")
    err = _refused(_write(tmp_path / "x.csv", raw))
    assert "byte-order mark" in err.message and "line 3" in err.message


@pytest.mark.parametrize(
    ("case", "raw", "fragment"),
    [
        ("big5", "客戶號,客戶姓名\nC1,張偉\nC2,陳小明\n".encode("big5"), "big5"),
        ("latin-1", "id,name\n1,Café Müller\n".encode("cp1252"), "neither UTF-8 nor GBK/GB18030"),
        # valid GBK byte pairs by accident ("Cr鑝e br鹟閑"), but not Chinese text
        ("latin-1-as-gbk", "id,note\nL1,Crème brûlée\n".encode("cp1252"), "does not read as Chinese"),
        (
            "shift-jis",
            "顧客番号,氏名\nC1,山田太郎\nC2,鈴木花子\n".encode("shift_jis"),
            "does not read as Chinese",
        ),
        ("utf-16", "id,name\n1,张伟\n".encode("utf-16"), "UTF-16"),
        ("utf-16-no-bom", "id,name\n1,张伟\n".encode("utf-16-le"), "NUL byte"),
    ],
)
def test_f5_encodings_outside_the_supported_set_are_refused(
    tmp_path: Path, case: str, raw: bytes, fragment: str
) -> None:
    err = _refused(_write(tmp_path / f"{case}.csv", raw))
    assert fragment in err.message and f"{case}.csv" in err.message
    assert "UTF-8" in err.message


def test_f5_gbk_with_rare_or_traditional_characters_still_reads(tmp_path: Path) -> None:
    text = "客户号,客户姓名,地址\nC1,王喆,臺北市信義區忠孝東路\nC2,李珺,高雄市\n"
    raw = read_table(_write(tmp_path / "borrowers.csv", text, "gbk"))
    assert raw.encoding == "gb18030"
    assert raw.frame.get_column("客户姓名").to_list() == ["王喆", "李珺"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_f5_each_supported_encoding_still_reads_exactly(tmp_path: Path, encoding: str) -> None:
    raw = read_table(_write(tmp_path / "loans.csv", LOANS, encoding))
    assert raw.encoding == ("gb18030" if encoding.startswith("gb") else encoding)
    assert raw.frame.get_column("product_type").to_list() == ["现金贷"]
    assert raw.headers[0] == "loan_id"


def test_f5_cli_refuses_the_mixed_file_with_a_nonzero_exit(tmp_path: Path) -> None:
    day = tmp_path / "day"
    _write(day / "borrowers.csv", "borrower_id,name\nC1,张伟\n".encode() + "C2,李娜\n".encode("gbk"))
    env = {**os.environ, "RECOUP_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("RECOUP_DATABASE_URL", None)
    proc = subprocess.run(
        [RECOUP, "import", str(day), "--as-of", "2026-11-20"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "import.bad_file" in proc.stderr and "mixed text encodings" in proc.stderr
    assert "Traceback" not in proc.stderr and "no-op" not in proc.stdout


# ------------------------------------------------------------------------ F6 silent columns


@pytest.mark.parametrize(
    ("extra", "shown"),
    [
        ("PRINCIPAL", "'PRINCIPAL'"),
        ("principal ", "'principal '"),  # was a polars DuplicateError traceback
        ("principal", "'principal'"),
        ("ｐｒｉｎｃｉｐａｌ", "'ｐｒｉｎｃｉｐａｌ'"),  # full-width
    ],
)
def test_f6_duplicate_headers_after_normalisation_are_refused(tmp_path: Path, extra: str, shown: str) -> None:
    path = _write(tmp_path / "loans.csv", _with_column(extra, "1"))
    err = _refused(path, ImportColumnError)
    assert err.code == "import.bad_column"
    assert "columns 6 and 11 have the same header" in err.message
    assert "'principal'" in err.message and shown in err.message


def test_f6_duplicate_headers_in_xlsx_and_parquet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["loan_id", "Loan_ID "])
    ws.append(["L1", "L2"])
    wb.save(tmp_path / "loans.xlsx")
    err = _refused(tmp_path / "loans.xlsx", ImportColumnError)
    assert "'loan_id' and 'Loan_ID '" in err.message
    pl.DataFrame({"loan_id": ["L1"], "LOAN_ID": ["L2"]}).write_parquet(tmp_path / "loans.parquet")
    err = _refused(tmp_path / "loans.parquet", ImportColumnError)
    assert "'loan_id' and 'LOAN_ID'" in err.message


def test_f6_unknown_column_close_to_a_field_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    err = _loans_refused(_write(tmp_path / "loans.csv", _with_column("maturty_date", "2027-08-01")))
    assert "unknown column(s) for loans: 'maturty_date' (did you mean 'maturity_date'?)" in err.message
    assert err.details["unknown"] == [{"column": "maturty_date", "suggestion": "maturity_date"}]


def test_f6_unknown_column_close_to_a_mapped_header_suggests_the_header(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[loans]\n"到期日期" = "maturity_date"\n')
    err = _loans_refused(_write(tmp_path / "loans.csv", _with_column("到期日", "2027-08-01")), mapping)
    assert "did you mean '到期日期', mapped to 'maturity_date'?" in err.message


def _mapping(tmp_path: Path, text: str, name: str = "mapping.toml") -> Mapping:
    return load_mapping(_write(tmp_path / "m" / name, text))


def test_f6_unknown_column_is_an_error_unless_the_mapping_ignores_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "loans.csv", _with_column("备注", "VIP"))
    err = _loans_refused(path)
    assert "'备注'" in err.message and 'ignore = ["备注"]' in err.message and "未知列" in err.message
    for text in ('[loans]\nignore = ["备注"]\n', '[columns]\nignore = [" 备注 "]\n'):
        v = _loans(path, _mapping(tmp_path, text))
        assert v.errors.height == 0
        assert v.frame.get_column("loan_id").to_list() == ["L1"]
    json_mapping = _mapping(tmp_path, '{"loans": {"ignore": ["备注"]}}', "mapping.json")
    assert _loans(path, json_mapping).errors.height == 0


def test_f6_two_headers_for_one_field_are_refused(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[loans]\n"借据号" = "loan_id"\n"合同号" = "loan_id"\n')
    text = LOANS.replace("loan_id,", "借据号,", 1)
    assert _loans(_write(tmp_path / "a" / "loans.csv", text), mapping).errors.height == 0  # one is fine
    both = text.replace("status\n", "status,合同号\n").replace("正常\n", "正常,L9\n")
    err = _loans_refused(_write(tmp_path / "b" / "loans.csv", both), mapping)
    assert "'借据号' and '合同号' both give the loans field 'loan_id'" in err.message
    # …and a mapped header next to the field's own name.
    err = _loans_refused(_write(tmp_path / "c" / "loans.csv", _with_column("借据号", "L9")), mapping)
    assert "'loan_id' and '借据号' both give the loans field 'loan_id'" in err.message


def test_f6_mapping_headers_match_after_normalisation(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[loans]\n"Loan No" = "loan_id"\n')
    text = LOANS.replace("loan_id,", "ＬＯＡＮ　ＮＯ ,", 1)  # full-width letters and space
    v = _loans(_write(tmp_path / "loans.csv", text), mapping)
    assert v.errors.height == 0 and v.headers["loan_id"] == "ＬＯＡＮ　ＮＯ"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[loans]\n"Principal" = "principal"\n"principal " = "status"\n', "the same header"),
        ('[loans]\nignore = ["x"]\n"x" = "status"\n', "both maps and ignores 'x'"),
        ("[loans]\nignore = [1]\n", "ignore must be a list of headers"),
        ('[loans]\n"借据号" = 1\n', "must be mapped to a field name"),
        ('ignore = ["x"]\n', "inside [columns]"),
        ('[files]\n"a/loans.csv" = "loans"\n', "not a path"),
        ("[values]\nproduct_type = 1\n", "[values.product_type] must be a table"),
    ],
)
def test_f6_bad_mapping_files_are_explained(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ImportFileError) as info:
        _mapping(tmp_path, text)
    assert fragment in info.value.message


def test_f6_json_mapping_must_be_an_object(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="must be a table of sections"):
        _mapping(tmp_path, '["loans"]', "mapping.json")


def test_f6_files_entry_naming_an_unknown_dataset_is_refused_not_a_noop(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    day = tmp_path / "day"
    _write(day / "JJ_20261120.csv", LOANS)
    _write(day / "mapping.toml", '[files]\n"JJ_20261120.csv" = "loanz"\n')
    with pytest.raises(ImportFileError) as info:
        import_dir(
            day,
            as_of=dt.date(2026, 11, 20),
            settings=settings,
            lake=Lake(str(tmp_path / "lake")),
            session=session,
        )
    msg = info.value.message
    assert "[files] 'JJ_20261120.csv' = 'loanz': not a dataset" in msg
    assert "did you mean 'loans'?" in msg and all(name in msg for name in DATASETS)


# ------------------------------------------------------------------------ F8 bounded sizes and echoes


def test_f8_a_5mb_cell_is_refused_quickly_with_a_short_message(tmp_path: Path) -> None:
    path = _write(tmp_path / "loans.csv", LOANS.replace("CASH3", "A" * 5_000_000))
    start = time.monotonic()
    err = _refused(path)
    assert time.monotonic() - start < 2
    assert "row 2, column 'product_code': a cell of 5,000,000 characters, more than 4,096" in err.message
    assert len(err.message) < 400 and "A" * (readers.ECHO_CHARS - 1) + "…" in err.message
    assert len(str(err.details)) < 400


def test_f8_cells_up_to_the_limit_pass_and_one_over_is_refused(tmp_path: Path) -> None:
    ok = read_table(_write(tmp_path / "a.csv", LOANS.replace("CASH3", "B" * readers.MAX_CELL_CHARS)))
    assert ok.frame.height == 1
    err = _refused(_write(tmp_path / "b.csv", LOANS.replace("CASH3", "中" * (readers.MAX_CELL_CHARS + 1))))
    assert f"a cell of {readers.MAX_CELL_CHARS + 1:,} characters" in err.message


def test_f8_row_column_and_file_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    many = LOAN_HEADER + "\n" + "".join(LOAN_ROW.replace("L1", f"L{i}") + "\n" for i in range(5))
    path = _write(tmp_path / "loans.csv", many)
    monkeypatch.setattr(readers, "MAX_ROWS", 4)
    assert "more than 4 data rows" in _refused(path).message
    pl.read_csv(io.StringIO(many), infer_schema=False).write_parquet(tmp_path / "loans.parquet")
    assert "more than 4 data rows" in _refused(tmp_path / "loans.parquet").message
    monkeypatch.setattr(readers, "MAX_ROWS", 10)
    monkeypatch.setattr(readers, "MAX_COLUMNS", 5)
    assert "10 columns; at most 5" in _refused(path).message
    monkeypatch.setattr(readers, "MAX_COLUMNS", 512)
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 100)
    err = _refused(path)
    assert f"the file is {path.stat().st_size:,} bytes; at most 100 bytes are read" in err.message


def test_f8_a_parquet_dictionary_cannot_expand_past_the_text_limit(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # One 100 KB value on 20,000 rows: 2 GB of text from a file of a few hundred kilobytes.
    n = 20_000
    value = pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), pa.array(["x" * 100_000]))
    pq.write_table(
        pa.table({"loan_id": pa.array([f"L{i}" for i in range(n)]), "note": value}), tmp_path / "l.parquet"
    )
    assert (tmp_path / "l.parquet").stat().st_size < 2_000_000
    start = time.monotonic()
    err = _refused(tmp_path / "l.parquet")
    assert time.monotonic() - start < 2
    assert "bytes of text; at most" in err.message


def test_f8_long_headers_are_clipped_in_messages(tmp_path: Path) -> None:
    header = "H" * 200
    text = LOANS.replace("principal,", f"{header},", 1)
    err = _loans_refused(_write(tmp_path / "loans.csv", text))
    assert "missing required column(s) for loans: principal" in err.message
    assert header not in err.message and "H" * (readers.ECHO_CHARS - 1) + "…" in err.message
    err = _refused(_write(tmp_path / "x.csv", f"{'Z' * 300},b\n1,2\n"), ImportColumnError)
    assert "300 characters long" in err.message and "Z" * 100 not in err.message


_CT = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
    'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType='
    '"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
    '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WB = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
    '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet '
    'name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WB_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
    '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _xlsx(path: Path, rows_xml: str, strings: list[str], dimension: str = "") -> Path:
    """A minimal workbook written by hand, so that a test controls every byte of the sheet."""
    sst = f"<sst {_NS}>" + "".join(f"<si><t>{s}</t></si>" for s in strings) + "</sst>"
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = f"<worksheet {_NS}>{dim}<sheetData>{rows_xml}</sheetData></worksheet>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CT)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WB)
        z.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        z.writestr("xl/sharedStrings.xml", sst)
    return path


def _no_openpyxl(monkeypatch: pytest.MonkeyPatch) -> None:
    import openpyxl

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the workbook was opened")

    monkeypatch.setattr(openpyxl, "load_workbook", refuse)


def test_f8_xlsx_zip_bomb_is_refused_before_the_workbook_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shared string of 5 MB compresses ~1000-fold (the reported file had 50 MB and ran past 150 s).
    rows = '<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c></row>'
    path = _xlsx(tmp_path / "loans.xlsx", rows, ["loan_id", "A" * 5_000_000])
    assert path.stat().st_size < 50_000
    _no_openpyxl(monkeypatch)
    start = time.monotonic()
    err = _refused(path)
    assert time.monotonic() - start < 2
    assert "'xl/sharedStrings.xml' expands" in err.message and "zip bomb" in err.message


def test_f8_xlsx_expanded_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = '<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c></row>'
    path = _xlsx(tmp_path / "loans.xlsx", rows, ["loan_id", "L1"])
    monkeypatch.setattr(readers, "XLSX_MAX_EXPANDED_BYTES", 1000)
    _no_openpyxl(monkeypatch)
    assert "the workbook expands to" in _refused(path).message


def test_f8_xlsx_with_cells_far_to_the_right_is_refused_at_the_first_such_row(tmp_path: Path) -> None:
    # Like the reported 783 KB file that ran past 300 s at 1.2 GB: rows padded to column XFD.
    rows = '<row r="1"><c r="A1" t="s"><v>0</v></c></row>' + "".join(
        f'<row r="{i}"><c r="XFD{i}"/></row>' for i in range(2, 20_000)
    )
    path = _xlsx(tmp_path / "loans.xlsx", rows, ["loan_id"], dimension="A1:XFD20000")
    start = time.monotonic()
    err = _refused(path)
    assert time.monotonic() - start < 2
    assert "row 2 reaches column XFD (16,384); at most 512 columns" in err.message


def test_f8_xlsx_long_cell_is_refused_with_row_and_header(tmp_path: Path) -> None:
    import random
    import string

    text = "".join(random.Random(0).choice(string.ascii_letters) for _ in range(5_000))
    rows = '<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="3"><c r="A3" t="s"><v>1</v></c></row>'
    err = _refused(_xlsx(tmp_path / "loans.xlsx", rows, ["loan_id", text]))
    assert "row 3, column 'loan_id': a cell of 5,000 characters" in err.message
    assert text not in err.message and text[: readers.ECHO_CHARS - 1] + "…" in err.message


def test_f8_xlsx_value_beyond_the_last_header_is_refused(tmp_path: Path) -> None:
    rows = (
        '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
        '<row r="2"><c r="A2" t="s"><v>1</v></c><c r="C2" t="s"><v>1</v></c></row>'
    )
    err = _refused(_xlsx(tmp_path / "loans.xlsx", rows, ["loan_id", "L1"]))
    assert "row 2, column C: a value beyond the last header (column A)" in err.message


def test_f8_xlsx_gap_rows_keep_their_sheet_numbers(tmp_path: Path) -> None:
    rows = (
        '<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="500000"><c r="A500000" t="s"><v>1</v></c></row>'
    )
    raw = read_table(_xlsx(tmp_path / "loans.xlsx", rows, ["loan_id", "L1"]))
    assert raw.frame.rows() == [("L1", 500_000)]


# ------------------------------------------------------------------------ F9 the file system


def test_f9_a_symlink_is_refused_and_its_target_never_echoed(tmp_path: Path) -> None:
    secret = _write(tmp_path / "secret.txt", "root:x:0:0:TOP-SECRET-LINE\n")
    day = tmp_path / "day"
    day.mkdir()
    (day / "loans.csv").symlink_to(secret)
    err = _refused(day / "loans.csv")
    assert "symbolic link" in err.message and "TOP-SECRET" not in err.message
    with pytest.raises(ImportFileError) as info:
        _loans(day / "loans.csv")
    assert "TOP-SECRET" not in info.value.message


def test_f9_a_symlink_swapped_in_after_the_check_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _write(tmp_path / "real.csv", LOANS)
    secret = _write(tmp_path / "secret.csv", "TOP-SECRET\n1\n")
    link = tmp_path / "loans.csv"
    link.symlink_to(secret)
    monkeypatch.setattr(files, "_regular_stat", lambda _p: os.stat(real))  # the race: checked, then swapped
    with pytest.raises(ImportFileError, match="symbolic link"):
        readers.read_regular_file(link)


def _in_thread(fn: object, seconds: float = 5) -> BaseException | None:
    """Run ``fn`` in a daemon thread; fail if it does not return within ``seconds``."""
    box: list[BaseException | None] = [None]

    def run() -> None:
        try:
            fn()  # type: ignore[operator]
        except BaseException as exc:
            box[0] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "the read blocked"
    return box[0]


def test_f9_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    day = tmp_path / "day"
    day.mkdir()
    os.mkfifo(day / "loans.csv")
    exc = _in_thread(lambda: read_table(day / "loans.csv"))
    assert isinstance(exc, ImportFileError) and "FIFO" in exc.message
    os.mkfifo(day / "mapping.toml")
    exc = _in_thread(lambda: load_mapping(day / "mapping.toml"))
    assert isinstance(exc, ImportFileError) and "FIFO" in exc.message


def test_f9_a_fifo_in_a_day_directory_fails_the_import_promptly(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    day = tmp_path / "day"
    _write(day / "borrowers.csv", "borrower_id,name\nC1,张伟\n")
    os.mkfifo(day / "loans.csv")
    lake = Lake(str(tmp_path / "lake"))
    exc = _in_thread(
        lambda: import_dir(day, as_of=dt.date(2026, 11, 20), settings=settings, lake=lake, session=session)
    )
    assert isinstance(exc, ImportFileError) and "loans.csv" in exc.message and "FIFO" in exc.message


def test_f9_devices_are_refused(tmp_path: Path) -> None:
    assert "character device" in _refused(Path("/dev/zero")).message
    (tmp_path / "loans.csv").symlink_to("/dev/zero")
    assert "symbolic link" in _refused(tmp_path / "loans.csv").message


def test_f9_directories_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "loans.csv").mkdir()
    assert "is a directory" in _refused(tmp_path / "loans.csv").message
    assert "no such file" in _refused(tmp_path / "nope.csv").message
    with pytest.raises(ImportFileError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.toml")


def test_f9_a_symlinked_mapping_is_refused(tmp_path: Path) -> None:
    target = _write(tmp_path / "elsewhere.toml", '[loans]\nignore = ["x"]\n')
    (tmp_path / "mapping.toml").symlink_to(target)
    with pytest.raises(ImportFileError, match="symbolic link"):
        load_mapping(tmp_path / "mapping.toml")


def test_f9_the_hash_is_of_the_bytes_that_were_parsed(tmp_path: Path) -> None:
    import hashlib

    path = _write(tmp_path / "loans.csv", LOANS)
    assert read_table(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------ inputs found by the fuzzer


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        # polars reads an unbalanced quote on the only line as no rows at all (no error)
        ("borrowers.csv", b'\x01borrower_id","name"\n', "header line cannot be read"),
        ("borrowers.csv", b'a","b"\nx,y\n', "header line cannot be read"),
    ],
)
def test_fuzz_found_inputs_are_refused_cleanly(tmp_path: Path, name: str, data: bytes, fragment: str) -> None:
    err = _refused(_write(tmp_path / name, data))
    assert err.code == "import.bad_file" and fragment in err.message
