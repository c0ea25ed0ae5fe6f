"""Dataset uploads: a .zip of CSV files or an .xlsx workbook, validated exactly as the CLI
validates a folder, imported all or nothing. An admin replaces the region; a park manager
replaces its own park's enterprises and listings, leaving every other park as it was.

An upload is version-checked (issue 18): it replaces the version named by If-Match (412 if
the dataset moved on) or else the version current when it arrived (409 if another writer,
e.g. `symbiosis db import` or a row edit, committed while it was being validated), and the
store writes it with compare-and-swap, so it never silently reverts a write it did not see."""

from __future__ import annotations

import io
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, File, Header, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from symbiosis.api.server.auth import Role
from symbiosis.api.server.bounds import check_upload
from symbiosis.api.server.deps import Caller, Svc, require
from symbiosis.api.server.errors import ApiError
from symbiosis.api.server.listings import remove_enterprises
from symbiosis.api.server.region import Snapshot, blank
from symbiosis.api.server.schemas import ErrorResponse
from symbiosis.dataset import TABLES, load_dataset
from symbiosis.errors import InvalidDataError, Problem, SymbiosisError
from symbiosis.store import DatasetRows, DatasetVersion, rows_from_dataset

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["datasets"])
MAX_ZIP_RATIO = 200  # uncompressed / compressed: beyond this a zip is treated as a bomb
MAX_UNPACKED_FACTOR = 20  # a zip may unpack to this many times the upload limit
_ZIP_MAGIC = b"PK\x03\x04"
# region-wide overrides: the store keeps them from an admin's upload; a park's upload
# cannot set them for the whole region
_REGION_ONLY = ("transport", "carbon")


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
    # the park's silos and existing contracts are the upload's (both lie inside the park)
    kept_offers = {str(o["id"]) for o in base.offers}
    kept_needs = {str(n["id"]) for n in base.needs}
    return replace(
        base,
        enterprises=[*base.enterprises, *({**e, "park": park} for e in uploaded.enterprises)],
        offers=[*base.offers, *uploaded.offers], needs=[*base.needs, *uploaded.needs],
        distances=[*base.distances, *uploaded.distances],
        offer_columns=offer_columns, need_columns=need_columns,
        storage=[*(s for s in base.storage if s["enterprise_id"] in others),
                 *uploaded.storage],
        contracts=[*(c for c in base.contracts if c["offer_id"] in kept_offers
                     and c["need_id"] in kept_needs), *uploaded.contracts])


def _base_check(if_match: str | None, base: DatasetVersion | None
                ) -> Callable[[Snapshot], None]:
    """The version check of a whole-dataset write, run under the region lock right before
    the compare-and-swap import: with If-Match, the current version must be the one named
    (412 if not); without, the one current when the request arrived (409 if another writer
    moved it while the upload was being checked). Nothing is imported in either case."""
    def check(snap: Snapshot) -> None:
        if if_match is not None and if_match.strip() != "*":
            if snap.etag not in [t.strip() for t in if_match.split(",")]:
                raise ApiError(412, "precondition_failed",
                               f"the dataset is now at {snap.etag}, not the version named "
                               "in If-Match; nothing was imported: read it again")
        elif if_match is None and snap.version != base:
            raise ApiError(409, "conflict",
                           "another writer changed the dataset while this upload was being "
                           f"checked (now {snap.etag}); nothing was imported: upload again")
    return check


@router.post("/datasets", status_code=201, summary="Upload a dataset (.zip of CSVs or .xlsx)",
             responses={409: {"model": ErrorResponse}, 412: {"model": ErrorResponse},
                        422: {"description": "every problem, as file, row, column, message"}})
async def upload_dataset(svc: Svc, caller: Caller, response: Response, file: Annotated[
        UploadFile, File(description="a .zip holding enterprises.csv, offers.csv, needs.csv "
                         "(and optional tables), or an .xlsx with those sheets")],
        if_match: Annotated[str | None, Header(
            max_length=2000, description="the dataset ETag (GET /api/datasets/current) the "
            "upload replaces; 412 if the dataset changed since. Without it the upload "
            "replaces the version current when it arrived (409 if another writer changes "
            "it while the upload is checked)")] = None) -> dict[str, Any]:
    require(caller, Role.admin, Role.park_manager)
    base = svc.region.snapshot().version  # before the (slow) parsing and validation
    limit = int(svc.settings.max_upload_mb * 1024 * 1024)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "payload_too_large",
                       f"uploads are limited to {svc.settings.max_upload_mb:g} MB")
    out = await run_in_threadpool(_import_upload, svc, caller, data,
                                  file.filename or "upload", limit * MAX_UNPACKED_FACTOR,
                                  _base_check(if_match, base))
    response.headers["ETag"] = out["etag"]
    return out


def _import_upload(svc: Svc, caller: Caller, data: bytes, filename: str, limit: int,
                   check: Callable[[Snapshot], None] | None = None) -> dict[str, Any]:
    """Validate and import an upload (in a worker thread); `limit` caps what a zip unpacks
    to; `check` refuses a dataset version the upload was not based on (`_base_check`)."""
    upload = PurePosixPath(filename).name or "upload"
    with tempfile.TemporaryDirectory(prefix="symbiosis-upload-") as tmp:
        dataset, tables, found = _load_upload(data, filename, Path(tmp), limit)
    warnings = [p.as_dict() for p in found]
    for table in _REGION_ONLY if not caller.is_admin else ():
        if table in tables:
            warnings.append(Problem(f"{upload}/{table}.csv", None, None,
                                    f"{table} overrides apply to the whole region and only "
                                    "an admin's upload sets them; runs through the API use "
                                    "the region's", "warning").as_dict())
    check_upload(rows_from_dataset(dataset), caller, svc.taxonomy, upload)
    source = f"api key {caller.key_id} ({caller.role}): upload {upload}"
    seen: list[int] = []

    def checked(snap: Snapshot) -> None:
        if check is not None:
            check(snap)
        seen.append(snap.version_number or 0)

    if caller.is_admin:
        snap = svc.region.edit(lambda rows: rows, source, dataset=dataset, check=checked)
    else:
        uploaded = rows_from_dataset(dataset)
        scope = caller.scope
        snap = svc.region.edit(lambda current: _park_merge(current, uploaded, scope, upload),
                               source, check=checked)
    version = snap.version
    assert version is not None
    replaced = seen[-1]  # the version the compare-and-swap import replaced
    return {"version": version.version, "hash": version.hash, "etag": snap.etag,
            "replaced": replaced,
            "enterprises": version.enterprises, "offers": version.offers,
            "needs": version.needs, "warnings": warnings}


@router.get("/datasets", summary="Dataset versions, oldest first (admin)")
def list_versions(svc: Svc, caller: Caller, response: Response) -> dict[str, Any]:
    require(caller, Role.admin)
    response.headers["ETag"] = svc.region.snapshot().etag
    versions = svc.region.versions()
    return {"data": [vars(v) for v in versions], "count": len(versions)}


@router.get("/datasets/current", summary="The current dataset version and its ETag, for "
                                         "If-Match on an upload (admin, park manager)")
def current_version(svc: Svc, caller: Caller, response: Response) -> dict[str, Any]:
    require(caller, Role.admin, Role.park_manager)
    snap = svc.region.snapshot()
    response.headers["ETag"] = snap.etag
    return {"version": snap.version_number or 0, "etag": snap.etag}
