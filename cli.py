"""The `hukou` command: parse, call flows or queries, print. No pipeline logic here."""

from __future__ import annotations

import contextvars
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from pipeline.errors import ExitCode, HukouError
from pipeline.settings import ConfigError, load_settings

out = Console(soft_wrap=True)
err = Console(stderr=True)


def _prepare_prefect_env(home: Path) -> None:
    """Keep Prefect's own state per installation and its chatter off the operator's screen."""
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    # The temporary local server takes a while to start on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def _fail(code: ExitCode, message: str) -> None:
    err.print(f"hukou: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(int(code))


def _runtime():  # type: ignore[no-untyped-def]
    from flows.runtime import runtime_for

    return runtime_for()


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map typed errors to exit codes with a one-line reason on stderr."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HukouError as exc:
            _fail(exc.exit_code, str(exc))
        except ConfigError as exc:
            _fail(ExitCode.invalid_config, f"configuration: {exc}")
        except KeyboardInterrupt:
            _fail(ExitCode.ctrl_c, "interrupted; re-run the same command to resume")
        except Exception as exc:  # last resort: one line, the right family of exit code
            from sqlalchemy.exc import SQLAlchemyError

            from pipeline.storage import StorageError

            if isinstance(exc, SQLAlchemyError):
                _fail(ExitCode.database_error, f"database: {str(exc).splitlines()[0]} (check HUKOU_DATABASE_URL; run `hukou init`)")
            if isinstance(exc, StorageError):
                _fail(ExitCode.storage_error, f"storage: {exc}")
            raise

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hukou-archive")
def main() -> None:
    """Hukou Archive: scan batches of old household-registration pages into a searchable, trusted archive."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(ExitCode.invalid_config, f"configuration: {exc}")
    _prepare_prefect_env(settings.home_path)


@main.command()
@guarded
def init() -> None:
    """Create or migrate the database and the storage bucket; safe to repeat."""
    rt = _runtime()
    caps = rt.init()
    out.print(f"database ready: {rt.engine.url.render_as_string(hide_password=True)}")
    out.print(f"storage ready:  {rt.storage_location}")
    for key, value in caps.items():
        out.print(f"  {key}: {value}")


@main.group()
def registry() -> None:
    """The population register: import it, find duplicate registrations."""


def _count_lines(path: Path) -> int:
    """Lines in the file, counted in 1 MiB blocks (for the progress bar's total)."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count, last = count + block.count(b"\n"), block[-1:]
    return count + (last != b"\n")


@registry.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@guarded
def registry_import(csv_file: Path) -> None:
    """Load or update population records from CSV_FILE (upsert by person_id)."""
    from pipeline.db.register import import_register_csv

    rt = _runtime()
    rt.init()
    total = _count_lines(csv_file) - 1
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err) as bar:
        task = bar.add_task("rows", total=max(total, 0))
        report = import_register_csv(rt.engine, csv_file, hmac_key=rt.keys.hmac, fernet_key=rt.keys.fernet,
                                     progress=lambda n: bar.update(task, completed=n))
    out.print(f"{report.rows} rows: {report.inserted} new, {report.updated} updated, {len(report.rejected)} rejected")
    for line_no, reason in report.rejected[:20]:
        err.print(f"  line {line_no}: {reason}", markup=False)
    if report.rejected:
        sys.exit(int(ExitCode.input_error))


@registry.command("duplicates")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table")
@guarded
def registry_duplicates_cmd(fmt: str) -> None:
    """List suspected duplicate registrations (重户), shared ID numbers (重号) and pages recording
    an event after the person's recorded death, with the reasons."""
    from pipeline.db.register import events_after_death, registry_duplicates
    from pipeline.db.session import session_scope

    rt = _runtime()
    with session_scope(rt.sessions) as session:
        findings = registry_duplicates(session) + events_after_death(session)
    if fmt == "jsonl":
        for f in findings:
            sys.stdout.write(json.dumps({"person_ids": f.person_ids, "score": round(f.score, 4), "reasons": f.reasons},
                                        ensure_ascii=False) + "\n")
        return
    table = Table("persons", "score", "reasons")
    for f in findings:
        table.add_row(", ".join(f.person_ids), f"{f.score:.3f}", "; ".join(f.reasons))
    out.print(table)


@main.command()
@click.argument("batch_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--batch-id", help="Batch id (default: batch.toml's id, else the folder name).")
@click.option("--scanner", type=click.Choice(["flatbed", "camera", "auto"]), help="Overrides batch.toml.")
@click.option("--device", help="Scanner model, recorded as provenance.")
@click.option("--operator", help="Operator's name, recorded as provenance.")
@click.option("--dpi", type=int, help="Resolution when the files do not carry it.")
@click.option("--repository", help="Location: archive repository.")
@click.option("--room", help="Location: 库房.")
@click.option("--shelf", help="Location: 架.")
@click.option("--box", help="Location: 盒.")
@click.option("--fonds", help="Location: 全宗号.")
@click.option("--volume", help="Location: 案卷/卷.")
@click.option("--workers", type=int, help="Worker processes (default from settings).")
@click.option("--dask-address", help="Run the pages on an existing Dask scheduler, e.g. tcp://10.0.0.5:8786.")
@click.option("--force", is_flag=True, help="Process pages again even when they are done under this version.")
@guarded
def ingest(batch_dir: Path, batch_id: str | None, scanner: str | None, device: str | None, operator: str | None,
           dpi: int | None, repository: str | None, room: str | None, shelf: str | None, box: str | None,
           fonds: str | None, volume: str | None, workers: int | None, dask_address: str | None, force: bool) -> None:
    """Register BATCH_DIR and run the whole pipeline on it; safe to repeat (resumes, never duplicates)."""
    from flows.ingest import run_ingest
    from pipeline.ingest import list_sources, read_manifest

    location = {k: v for k, v in dict(repository=repository, room=room, shelf=shelf, box=box, fonds=fonds,
                                      volume=volume).items() if v}
    options: dict[str, Any] = {k: v for k, v in dict(scanner=scanner, device=device, operator=operator, dpi=dpi).items() if v}
    options["location"] = location
    manifest = read_manifest(batch_dir, batch_id=batch_id, location=location,
                             **{k: v for k, v in options.items() if k != "location"})
    total = len(list_sources(manifest))
    rt = _runtime()
    rt.init()
    settings = rt.settings
    result: dict[str, Any] = {}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.update(run_ingest(str(batch_dir), batch_id=manifest.batch_id, options=options,
                                     workers=workers or settings.pipeline.workers,
                                     dask_address=dask_address or settings.pipeline.dask_address, force=force))
        except BaseException as exc:  # handed to the main thread
            failure.append(exc)

    # The flow runs in a thread (the main thread draws the progress bar); it keeps this
    # thread's context, so Prefect settings set by a caller (or a test harness) still apply.
    worker = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="ingest-flow", daemon=True)
    started = time.time()
    worker.start()
    with Progress(TextColumn(f"[bold]{manifest.batch_id}[/]"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("pages"), TimeElapsedColumn(), console=err, transient=False) as bar:
        task = bar.add_task("pages", total=total)
        while worker.is_alive():
            worker.join(timeout=1.0)
            bar.update(task, completed=_pages_finished(rt, manifest.batch_id, started, force), total=max(total, 1))
        bar.update(task, completed=_pages_finished(rt, manifest.batch_id, started, force))
    if failure:
        raise failure[0]
    summary = result["summary"]
    _print_summary(summary)
    out.print(f"database: {rt.engine.url.render_as_string(hide_password=True)}")
    out.print(f"archive:  {rt.storage_location}")
    bad = summary["quarantined"] + summary["failed"] + summary["registered"]
    if bad:
        _fail(ExitCode.pages_failed, f"{bad} of {summary['pages']} pages were not archived; see `hukou status {manifest.batch_id}`")


def _pages_finished(rt: Any, batch_id: str, since: float, force: bool = False) -> int:
    """Pages with a final status; with --force only those finished again in this run."""
    from datetime import datetime, timezone

    from sqlalchemy import func, select

    from pipeline.db.models import Page

    query = select(func.count()).select_from(Page).where(
        Page.batch_id == batch_id, Page.status.in_(("done", "quarantined", "failed")))
    if force:
        query = query.where(Page.updated_at >= datetime.fromtimestamp(since, timezone.utc))
    try:
        with rt.sessions() as session:
            return int(session.scalar(query) or 0)
    except Exception:  # the progress bar must never break the run
        return 0


def _print_summary(s: dict[str, Any]) -> None:
    table = Table(title=f"batch {s['batch_id']} — box {s['location'].get('box', '')}", show_lines=False)
    for col in ("pages", "done", "quarantined", "failed", "needs re-scan", "archived", "pages/min"):
        table.add_column(col, justify="right")
    table.add_row(str(s["pages"]), str(s["done"]), str(s["quarantined"]), str(s["failed"]), str(s["needs_rescan"]),
                  str(s["archived"]), f"{s['pages_per_minute']:.1f}")
    out.print(table)
    if s["attention"]:
        att = Table("page", "file", "box", "status", "reasons", title="needs attention")
        for p in s["attention"]:
            att.add_row(str(p["page_no"]), p["source_file"], p["box"], p["status"], "; ".join(p["reasons"]))
        out.print(att)


@main.command()
@click.argument("batch_id", required=False)
@click.option("--rescan", is_flag=True, help="List only the pages to re-scan, with box and page.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@guarded
def status(batch_id: str | None, rescan: bool, fmt: str) -> None:
    """Progress and quality per batch."""
    from pipeline.db.queries import batch_summary, list_batches
    from pipeline.db.session import session_scope

    rt = _runtime()
    rt.init()
    with session_scope(rt.sessions) as session:
        summaries = [batch_summary(session, batch_id)] if batch_id else list_batches(session)
    if fmt == "json":
        sys.stdout.write(json.dumps(summaries if not batch_id else summaries[0], ensure_ascii=False, default=str) + "\n")
        return
    if rescan:
        table = Table("batch", "box", "page", "file", "status", "reasons", title="pages to re-scan")
        for s in summaries:
            for p in s["attention"]:
                table.add_row(s["batch_id"], p["box"], str(p["page_no"]), p["source_file"], p["status"], "; ".join(p["reasons"]))
        out.print(table)
        return
    if not summaries:
        out.print("no batches yet: `hukou ingest BATCH_DIR`")
        return
    if batch_id:
        from rich.markdown import Markdown

        from flows.report import report_markdown

        out.print(Markdown(report_markdown(summaries[0])))  # the same page as the flow's report artifact
        return
    table = Table("batch", "box", "status", "pages", "done", "quarantined", "failed", "re-scan", "pages/min")
    for s in summaries:
        table.add_row(s["batch_id"], s["location"].get("box", ""), s["status"], str(s["pages"]), str(s["done"]),
                      str(s["quarantined"]), str(s["failed"]), str(s["needs_rescan"]), f"{s['pages_per_minute']:.1f}")
    out.print(table)


@main.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--settle", type=float, default=30.0, show_default=True, help="Seconds a folder's files must stay unchanged.")
@click.option("--poll", type=float, default=5.0, show_default=True, help="Seconds between looks at ROOT.")
@guarded
def watch(root: Path, settle: float, poll: float) -> None:
    """Ingest each new batch folder under ROOT once its batch.toml exists and its files stop growing."""
    from flows.watch import ingest_new_batches

    _runtime().init()
    out.print(f"watching {root} (settle {settle:g} s); Ctrl-C stops")
    ingest_new_batches(root, settle_seconds=settle, poll_seconds=poll)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Where the Prefect dashboard listens.")
@click.option("--port", type=int, default=4200, show_default=True)
@click.option("--watch", "watch_root", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Also start a run for each new complete batch folder under this folder.")
@click.option("--settle", type=float, default=30.0, show_default=True, help="Seconds a folder's files must stay unchanged.")
@guarded
def serve(host: str, port: int, watch_root: Path | None, settle: float) -> None:
    """Serve the ingest flow on the Prefect dashboard, where a supervisor starts batches and reads their reports."""
    from flows.serve import serve_dashboard

    _runtime().init()
    serve_dashboard(host=host, port=port, watch_root=watch_root, settle_seconds=settle)


@main.command()
@click.option("--batch", "batch_id", required=True, help="Batch id.")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl")
@guarded
def export(batch_id: str, fmt: str) -> None:
    """One JSON object per page on stdout (interfaces.md §4)."""
    from pipeline.db.queries import export_records
    from pipeline.db.session import session_scope

    rt = _runtime()
    with session_scope(rt.sessions) as session:
        for record in export_records(session, batch_id, unmask=True):
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


@main.command()
@click.option("--name", help="姓名 (also former, head, parents' names).")
@click.option("--id-number", help="公民身份号码, 15 or 18 digits.")
@click.option("--birth-date", help="出生日期 in any notation (1958-04-12, 1958.4.12, 一九五八年四月十二日).")
@click.option("--address", help="Part of an address.")
@click.option("--text", help="Any text on the page.")
@click.option("--box", help="Box number.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table")
@guarded
def search(name: str | None, id_number: str | None, birth_date: str | None, address: str | None, text: str | None,
           box: str | None, limit: int, fmt: str) -> None:
    """Find pages by name, ID number, birth date, address, text or box (criteria combine)."""
    from pipeline.db.queries import search_pages
    from pipeline.db.session import session_scope

    if not any((name, id_number, birth_date, address, text, box)):
        _fail(ExitCode.bad_args, "give at least one of --name, --id-number, --birth-date, --address, --text, --box")
    rt = _runtime()
    with session_scope(rt.sessions) as session:
        hits = search_pages(session, name=name, id_number=id_number, birth_date=birth_date, address=address,
                            text=text, box=box, limit=limit)
    if fmt == "jsonl":
        for h in hits:
            sys.stdout.write(json.dumps(h, ensure_ascii=False) + "\n")
        return
    table = Table("page id", "batch", "box", "page", "type", "name", "birth", "link", title=f"{len(hits)} pages")
    for h in hits:
        f = h["fields"]
        table.add_row(h["page_id"], h["batch"], h["location"]["box"], str(h["page_no"]), h["doc_type"],
                      f.get("name", {}).get("value", ""), f.get("birth_date", {}).get("value", ""),
                      f"{h['link']['status']} {h['link'].get('person_id') or ''}")
    out.print(table)


@main.command()
@click.argument("page_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@guarded
def show(page_id: str, fmt: str) -> None:
    """One page: fields, link, the paper's location and the archived object."""
    from pipeline.db.queries import page_detail
    from pipeline.db.session import session_scope

    rt = _runtime()
    with session_scope(rt.sessions) as session:
        d = page_detail(session, page_id, unmask=rt.settings.security.unmask)
    if fmt == "json":
        sys.stdout.write(json.dumps(d, ensure_ascii=False, default=str) + "\n")
        return
    loc = d["location"]
    out.print(f"[bold]page {d['page_id']}[/] — batch {d['batch']}, page {d['page_no']} ({d['source_file']}), {d['doc_type']}")
    out.print(f"paper:   {loc['repository']} 库房 {loc['room']} 架 {loc['shelf']} 盒 {loc['box']} "
              f"全宗 {loc['fonds']} 卷 {loc['volume']} 第 {loc['page']} 页")
    arch = d.get("archive") or {}
    out.print(f"digital: {arch.get('uri', '— not archived —')}  sha256 {arch.get('sha256', '')}  PDF/A-{arch.get('pdfa', '')}")
    out.print(f"master:  {d['master_uri']}  sha256 {d['sha256']}")
    out.print(f"status:  {d['status']}  rotation {d['rotation']}°  skew {d['skew_deg']}°  damage {', '.join(d['damage']) or 'none'}"
              f"  needs re-scan: {'yes' if d['needs_rescan'] else 'no'}")
    table = Table("field", "value", "raw", "confidence")
    for key, f in d["fields"].items():
        table.add_row(key, str(f["value"]), str(f.get("raw", "")), f"{f['confidence']:.2f}")
    out.print(table)
    link = d["link"]
    out.print(f"link:    {link['status']} {link.get('person_id') or ''} score {link['score']}  {'; '.join(link.get('reasons', []))}")
    for m in d.get("mentions", []):
        names = m["fields"].get("name", {}).get("value", "")
        out.print(f"  mention {m['role']}: {names} → {m['link']['status']} {m['link'].get('person_id') or ''}")
    if d["errors"]:
        out.print(f"errors:  {'; '.join(d['errors'])}")


@main.command()
@click.option("--sample", "sample_percent", type=click.FloatRange(0.1, 100.0), default=100.0, show_default=True,
              help="Percent of objects to check (DA/T 31 acceptance samples at least 5).")
@click.option("--batch", "batch_id", help="Only this batch's objects.")
@guarded
def audit(sample_percent: float, batch_id: str | None) -> None:
    """Re-read archived objects: re-hash, re-validate PDF/A and the text layer; non-zero exit on any finding."""
    from flows.audit import run_audit

    rt = _runtime()
    report = run_audit(rt, sample_percent=sample_percent, batch_id=batch_id)
    out.print(f"checked {report.checked} of {report.objects} archived objects: {len(report.findings)} findings")
    if report.findings:
        # folded, never cut: the operator needs the whole object URI to find it
        table = Table(Column("page", no_wrap=True), Column("object", overflow="fold"), Column("problem", overflow="fold"),
                      title="audit findings")
        for f in report.findings:
            table.add_row(f.page_id, f.uri, f.problem)
        out.print(table)
        _fail(ExitCode.audit_findings, f"{len(report.findings)} findings in {report.checked} objects checked")


@main.command()
@click.option("--batch", "batch_id", help="Only this batch.")
@click.option("--limit", type=int, default=500, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table")
@guarded
def review(batch_id: str | None, limit: int, fmt: str) -> None:
    """The review queue: pages whose fields are doubtful or inconsistent, with their alternatives."""
    from pipeline.db.queries import review_queue
    from pipeline.db.session import session_scope

    rt = _runtime()
    with session_scope(rt.sessions) as session:
        items = review_queue(session, batch_id=batch_id, limit=limit)
    if fmt == "jsonl":
        for item in items:
            sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
        return
    table = Table("page id", "batch", "box", "page", "reasons", "alternatives", title=f"{len(items)} pages to review")
    for item in items:
        alts = "; ".join(f"{f['key']}: {f['value']} / {' '.join(f['alternatives'][:3])}" for f in item["fields"] if f["alternatives"])
        table.add_row(item["page_id"], item["batch"], item["box"], str(item["page_no"]), "\n".join(item["reasons"]), alts)
    out.print(table)


@main.command()
@guarded
def models() -> None:
    """List the OCR models installed, with versions, files and checksums."""
    from ocr_models.registry import list_models

    table = Table("name", "engine", "version", "installed", "licence", "files")
    for m in list_models():
        table.add_row(m.name, m.engine, m.version, "yes" if m.installed else "no", m.licence,
                      "\n".join(f"{Path(f).name} {m.sha256.get(f, '')[:12]}" for f in m.files))
    out.print(table)


if __name__ == "__main__":
    main()
