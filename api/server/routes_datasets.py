"""Dataset uploads: a .zip of CSV files or an .xlsx workbook, validated exactly as the CLI
validates a folder, imported all or nothing. An admin replaces the region; a park manager
replaces its own park's enterprises and listings, leaving every other park as it was."""

from __future__ import annotations

import io
import tempfile
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from starlette.concurrency import run_in_threadpool

from symbiosis.api.server.auth import Role
from symbiosis.api.server.bounds import check_upload
from symbiosis.api.server.deps import Caller, Svc, require
from symbiosis.api.server.errors import ApiError
from symbiosis.api.server.listings import remove_enterprises
from symbiosis.api.server.region import blank
from symbiosis.dataset import TABLES, load_dataset
from symbiosis.errors import InvalidDataError, Problem, SymbiosisError
from symbiosis.store import DatasetRows, dataset_from_rows, rows_from_dataset

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["datasets"])
MAX_ZIP_RATIO = 200  # uncompressed / compressed: beyond this a zip is treated as a bomb
MAX_UNPACKED_FACTOR = 20  # a zip may unpack to this many times the upload limit
_ZIP_MAGIC = b"PK\x03\x04"
_NOT_KEPT = ("transport", "carbon")


def _relabel(problems: list[Problem], folder: Path, upload: str) -> list[Problem]:
    """Problems name the uploaded file (and the member inside a zip), not the temp folder."""
    prefix = str(folder)
    return [replace(p, file=upload + p.file[len(prefix):] if p.file.startswith(prefix)
                    else p.file) for p in problems]


def _extract_zip(data: bytes, folder: Path, upload: str, limit: int) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise InvalidDataError([Problem(upload, None, None, f"not a valid zip: {exc}")]) \
            from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()
                   and PurePosixPath(m.filename).suffix.lower() == ".csv"
                   and not PurePosixPath(m.filename).name.startswith(("._", "~$"))]
        if sum(m.file_size for m in members) > max(limit, len(data) * MAX_ZIP_RATIO):
            raise ApiError(413, "payload_too_large", f"{upload} unpacks to more than the "
                                                     "server accepts")
        known = {f"{t}.csv" for t in TABLES}
        seen: dict[str, str] = {}
        for m in members:
            name = PurePosixPath(m.filename).name.lower()  # flatten one wrapping folder
            if name not in known:
                continue
            if name in seen:
                raise InvalidDataError([Problem(upload, None, None,
                                                f"two {name} files: {seen[name]} and "
                                                f"{m.filename}")])
            seen[name] = m.filename
            try:
                content = archive.read(m)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError,
                    RuntimeError, ValueError) as exc:  # bad CRC, broken deflate, encrypted
                raise InvalidDataError([Problem(f"{upload}/{m.filename}", None, None,
                                                f"cannot unpack this member: {exc}")]) \
                    from None
            (folder / name).write_bytes(content)


def _load_upload(data: bytes, filename: str, folder: Path, limit: int
                 ) -> tuple[Any, list[str], list[Problem]]:
    """The uploaded dataset, the tables it had and its warnings."""
    upload = PurePosixPath(filename or "upload").name or "upload"
    if not data.startswith(_ZIP_MAGIC):
        raise InvalidDataError([Problem(upload, None, None, "expected a .zip of CSV files "
                                                            "or an .xlsx workbook")])
    is_xlsx = upload.lower().endswith((".xlsx", ".xlsm")) or b"[Content_Types].xml" in data[:4096]
    if is_xlsx:
        path = folder / "dataset.xlsx"
        path.write_bytes(data)
        import openpyxl

        try:
            dataset = load_dataset(path)
            book = openpyxl.load_workbook(path, read_only=True)
            sheets = [s.strip().lower() for s in book.sheetnames]
            book.close()
        except InvalidDataError as exc:
            raise InvalidDataError(_relabel(exc.problems, path, upload)) from None
        except SymbiosisError:
            raise
        except Exception as exc:  # openpyxl, zipfile and the (defused) XML
            # parsers raise many types for a damaged or hostile workbook (bad CRC, broken
            # XML, an external entity): all mean "not a workbook we can read", a 422
            raise InvalidDataError([Problem(upload, None, None, "not a readable .xlsx "
                                            f"workbook ({type(exc).__name__}: "
                                            f"{str(exc)[:200]})")]) from None
        return dataset, sheets, _relabel(list(dataset.warnings), path, upload)
    _extract_zip(data, folder, upload, limit)
    try:
        dataset = load_dataset(folder)
    except InvalidDataError as exc:
        raise InvalidDataError(_relabel(exc.problems, folder, upload)) from None
    return (dataset, [p.stem for p in folder.glob("*.csv")],
            _relabel(list(dataset.warnings), folder, upload))


def _park_merge(current: DatasetRows, uploaded: DatasetRows, park: str, upload: str
                ) -> DatasetRows:
    """Replace one park's part of the region with the upload (every enterprise in it)."""
    problems = []
    label = f"{upload}/enterprises.csv"
    others = {str(e["id"]) for e in current.enterprises if blank(e.get("park")) != park}
    for i, ent in enumerate(uploaded.enterprises):
        if blank(ent.get("park")) not in (None, park):
            problems.append(Problem(label, i + 2, "park", f"'{ent['park']}' is not your park "
                                                          f"'{park}'"))
        if ent["id"] in others:
            problems.append(Problem(label, i + 2, "id", f"'{ent['id']}' belongs to another "
                                                        "park"))
    if uploaded.substitutions is not None:
        problems.append(Problem(f"{upload}/substitutions.csv", None, None,
                                "substitutions apply to the whole region; only an admin may "
                                "upload them"))
    for table in ("offers", "needs"):
        mine = {str(r["id"]) for r in getattr(uploaded, table)}
        for row in getattr(current, table):
            if row["id"] in mine and row["enterprise_id"] in others:
                problems.append(Problem(f"{upload}/{table}.csv", None, "id",
                                        f"'{row['id']}' is already used by another park"))
    if problems:
        raise InvalidDataError(problems)
    ours = {str(e["id"]) for e in current.enterprises} - others
    base = remove_enterprises(current, ours)
    offer_columns = tuple(dict.fromkeys((*base.offer_columns, *uploaded.offer_columns)))
    need_columns = tuple(dict.fromkeys((*base.need_columns, *uploaded.need_columns)))
    return replace(
        base,
        enterprises=[*base.enterprises, *({**e, "park": park} for e in uploaded.enterprises)],
        offers=[*base.offers, *uploaded.offers], needs=[*base.needs, *uploaded.needs],
        distances=[*base.distances, *uploaded.distances],
        offer_columns=offer_columns, need_columns=need_columns)


@router.post("/datasets", status_code=201, summary="Upload a dataset (.zip of CSVs or .xlsx)",
             responses={422: {"description": "every problem, as file, row, column, message"}})
async def upload_dataset(svc: Svc, caller: Caller, file: Annotated[UploadFile, File(
        description="a .zip holding enterprises.csv, offers.csv, needs.csv (and optional "
                    "tables), or an .xlsx with those sheets")]) -> dict[str, Any]:
    require(caller, Role.admin, Role.park_manager)
    limit = int(svc.settings.max_upload_mb * 1024 * 1024)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "payload_too_large",
                       f"uploads are limited to {svc.settings.max_upload_mb:g} MB")
    return await run_in_threadpool(_import_upload, svc, caller, data,
                                   file.filename or "upload", limit * MAX_UNPACKED_FACTOR)


def _import_upload(svc: Svc, caller: Caller, data: bytes, filename: str, limit: int
                   ) -> dict[str, Any]:
    """Validate and import an upload (in a worker thread); `limit` caps what a zip unpacks to."""
    upload = PurePosixPath(filename).name or "upload"
    with tempfile.TemporaryDirectory(prefix="symbiosis-upload-") as tmp:
        dataset, tables, found = _load_upload(data, filename, Path(tmp), limit)
    warnings = [p.as_dict() for p in found]
    for table in _NOT_KEPT:
        if table in tables:
            warnings.append(Problem(f"{upload}/{table}.csv", None, None,
                                    f"{table} overrides are not kept by the store; runs "
                                    "through the API use the built-in factors",
                                    "warning").as_dict())
    check_upload(rows_from_dataset(dataset), caller, svc.taxonomy, upload)
    source = f"api key {caller.key_id} ({caller.role}): upload {upload}"
    if caller.is_admin:
        snap = svc.region.edit(lambda rows: rows, source, dataset=dataset)
    else:
        uploaded = rows_from_dataset(dataset)
        with svc.region.lock:
            current = svc.region.snapshot().rows
            merged = _park_merge(current, uploaded, caller.scope, upload)
            merged_dataset = dataset_from_rows(merged, source="api")
            snap = svc.region.edit(lambda rows: merged, source, dataset=merged_dataset)
    version = snap.version
    assert version is not None
    return {"version": version.version, "hash": version.hash,
            "enterprises": version.enterprises, "offers": version.offers,
            "needs": version.needs, "warnings": warnings}


@router.get("/datasets", summary="Dataset versions, oldest first (admin)")
def list_versions(svc: Svc, caller: Caller) -> dict[str, Any]:
    require(caller, Role.admin)
    versions = svc.region.versions()
    return {"data": [vars(v) for v in versions], "count": len(versions)}
