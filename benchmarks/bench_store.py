"""Store and network-analysis benchmark: figures, never pass/fail.

- import of the 3,000-enterprise Hunan instance into SQLite and into a real Neo4j 5, then
  read-back (rows) and re-validation into a Dataset, checked equal by content hash;
- a 3,000-enterprise match run saved and read back on both;
- keystone analysis (every enterprise of the exchange network leaves in turn, the match is
  re-solved) on a 300-enterprise region, in one process and with worker processes.

The Neo4j is the tests' one (tools/neo4j: 5.26 community, embedded, built with Maven on
first use), started on loopback in a temporary folder, unless `--bolt URL` names another
Neo4j 5 server (its database is emptied first).

    python benchmarks/bench_store.py [--sizes 3000] [--region 300] [--bolt bolt://host:7687]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # store_support: the tests' Neo4j starter

import generate  # noqa: E402


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - t0


def bench_store(url: str, dataset: Any, label: str) -> dict[str, Any]:
    """Import, read back, re-validate, save a run and read it back; seconds per phase."""
    from symbiosis.matching import solve_match
    from symbiosis.store import RunRecord, dataset_from_rows, open_store, rows_from_dataset

    store, t_open = _timed(open_store, url)
    version, t_import = _timed(store.import_dataset, dataset)
    rows, t_read = _timed(store.dataset_rows)
    _, t_validate = _timed(dataset_from_rows, rows)
    same = rows.content_hash() == rows_from_dataset(dataset).content_hash()
    result = solve_match(dataset)
    record = RunRecord.from_result(result, version.hash)
    record = RunRecord(record.parameters, record.dataset_hash, record.summary,
                       record.exchanges, version=version.version)
    info, t_save = _timed(store.save_run, record)
    back, t_run = _timed(store.run, info.id)
    _, t_reimport = _timed(store.import_dataset, dataset)
    store.close()
    return {"store": label, "open": t_open, "import": t_import, "read": t_read,
            "validate": t_validate, "identical": same and back.exchanges == record.exchanges,
            "exchanges": len(record.exchanges), "save_run": t_save, "read_run": t_run,
            "reimport": t_reimport, "rows": len(rows.enterprises) + len(rows.offers)
            + len(rows.needs)}


def _empty(url: str) -> None:
    """Delete every node of the Neo4j at `url` (a benchmark starts from an empty store)."""
    import neo4j

    from symbiosis.store import parse_store_url

    target = parse_store_url(url)
    auth = (target.user or "neo4j", target.password) if target.password else None
    with neo4j.GraphDatabase.driver(target.uri, auth=auth) as driver, \
            driver.session(database=target.database) as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
                    ).consume()


def bench_keystones(dataset: Any, jobs: int) -> tuple[float, Any]:
    """Keystones of every enterprise in the exchange network."""
    from symbiosis.matching import solve_match
    from symbiosis.matching.network import exchange_graph, keystones

    result = solve_match(dataset)
    members = sorted(exchange_graph(result.exchanges).nodes)
    table, seconds = _timed(keystones, dataset, enterprises=members, jobs=jobs)
    return seconds, table


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3000", help="enterprise counts for the store part")
    ap.add_argument("--region", type=int, default=300, help="enterprises for keystones")
    ap.add_argument("--bolt", default=None,
                    help="a Neo4j 5 Bolt URL (emptied first) instead of the launcher's")
    args = ap.parse_args(argv)

    from symbiosis.dataset import load_dataset

    server = None
    bolt = args.bolt
    with tempfile.TemporaryDirectory() as tmp:
        if bolt is None:
            from store_support import start_neo4j

            server = start_neo4j(Path(tmp) / "neo4j")
            bolt = server.url()
        try:
            rows = []
            for n in (int(s) for s in args.sizes.split(",")):
                dataset = load_dataset(generate.build(n, seed=0))
                rows.append((n, bench_store(f"sqlite://{tmp}/bench_{n}.db", dataset,
                                            "SQLite")))
                _empty(bolt)
                rows.append((n, bench_store(bolt, dataset, "Neo4j" + (
                    " 5.26 (tools/neo4j)" if server is not None else f" {bolt}"))))
        finally:
            if server is not None:
                server.stop()
    print(f"{'n':>6} {'store':<26} {'rows':>6} {'import':>7} {'read':>6} {'valid.':>6} "
          f"{'reimp.':>7} {'exch.':>6} {'save':>6} {'run':>6} identical")
    for n, r in rows:
        print(f"{n:>6} {r['store']:<26} {r['rows']:>6} {r['import']:>7.2f} {r['read']:>6.2f} "
              f"{r['validate']:>6.2f} {r['reimport']:>7.2f} {r['exchanges']:>6} "
              f"{r['save_run']:>6.2f} {r['read_run']:>6.2f} {r['identical']}")

    region = load_dataset(generate.build(args.region, seed=0))
    for jobs in (1, 2):
        seconds, table = bench_keystones(region, jobs)
        top = table.iloc[0]
        print(f"keystones, {args.region} enterprises, jobs={jobs}: {len(table)} re-solves in "
              f"{seconds:.2f} s ({1000 * seconds / max(1, len(table)):.1f} ms each); top: "
              f"{top['enterprise_id']} loses {top['tonnes_lost']:,.0f} t/yr")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
