"""``hardmine bank``: look into the hard-case bank and maintain it.

    hardmine bank --help

Read-only commands (summary, list, show, montage, export, verify) never take
the writer's lock, so they work while the service appends; ``review`` and
``prune`` are writers. A bad argument (made one line by the root command,
flows/cli.py), a missing file, a file that is not a bank or a newer schema
prints one ``error: ...`` line and exits 2 without writing anything; ``verify``
exits 1 with its first finding when the bank is damaged.
"""

from __future__ import annotations

import getpass
import json
import math
import os

import click

from miner.config import HardmineError, check_output, check_writable_dir, write_atomically
from miner.progress import progress_bar
from store.bank import Bank
from store.layout import disk_bytes, shard_dir
from store.retention import POLICIES
from store.review import GROUPS, NAMES, RELABELLED, parse_names
from store.verify import verify_bank
from store import render, transfer


@click.group()
def bank() -> None:
    """Inspect and maintain the HDF5 hard-case bank (docs/store.md)."""


BANK = click.argument("bank_path", metavar="BANK", type=click.Path(dir_okay=False))


class StatusList(click.ParamType):
    """``--status NAME[,NAME]``: statuses of store/review.py, or a group (all, trainable)."""

    name = "status"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return parse_names(value, "--status")
        except HardmineError as exc:
            self.fail(str(exc).removeprefix("--status: "), param, ctx)


STATUS_HELP = (f"Only cases of these review statuses, comma-separated: {', '.join(NAMES)}, or "
               f"{' / '.join(GROUPS)} (trainable = {', '.join(GROUPS['trainable'])})")


def _finite(ctx, param, value):
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number of pixels", ctx, param)
    return value


def _writable_bank(bank_path: str, what: str) -> None:
    """A writer creates files next to the bank (lock, temporary main file, shards):
    refuse before taking the lock where it could not."""
    folder = os.path.dirname(os.path.abspath(bank_path))
    if os.path.isdir(folder):
        check_writable_dir(folder, f"{what} {bank_path}")
    shards = shard_dir(bank_path)
    if os.path.isdir(shards):
        check_writable_dir(shards, f"{what} {bank_path}")


SELECTING = ("label", "pred", "round_", "min_jitter", "max_jitter", "limit")  # filters that narrow a selection


def case_filters(status_default: str | None = "all", order: bool = True):
    """--label/--pred/--round/--min-jitter/--max-jitter/--status/--sort/--limit, shared by
    summary, list, montage, export and review; ``status_default`` is the --status a command starts
    from (None: no status filter, shown as all, so that review can tell an explicit --status all);
    ``order=False`` leaves out --sort and --limit (summary counts every case that passes)."""
    options = [
        click.option("--label", type=click.IntRange(0, 9), default=None,
                     help="Only this label (the effective one: a relabelled case's new label, else the true "
                          "label) [default: all]."),
        click.option("--pred", type=click.IntRange(-1, 9), default=None,
                     help="Only this predicted label, -1 for unknown (imported) [default: all]."),
        click.option("--round", "round_", type=int, default=None, help="Only this round, -1 for imported [default: all]."),
        click.option("--min-jitter", type=float, default=None, callback=_finite,
                     help="Only jitter >= this, pixels [default: no bound]."),
        click.option("--max-jitter", type=float, default=None, callback=_finite,
                     help="Only jitter <= this, pixels [default: no bound]."),
        click.option("--status", type=StatusList(), default=status_default, show_default=status_default is not None,
                     help=STATUS_HELP + ("." if status_default is not None else " [default: all].")),
    ]
    if order:
        options += [
            click.option("--sort", type=click.Choice(list(render.SORTS)), default="id", show_default=True,
                         help="Order: confidence = most confidently wrong first."),
            click.option("--limit", type=click.IntRange(min=1), default=None,
                         help="At most this many cases [default: all]."),
        ]

    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def _select(df, label, pred, round_, min_jitter, max_jitter, status, sort, limit):
    """The rows of a ``Bank.table()`` passing the options of :func:`case_filters`."""
    return render.select(df, label, pred, round_, min_jitter, max_jitter, status, sort, limit)


def _selected(bank_path: str, **filters):
    with Bank.open(bank_path) as b:
        df = b.table()
    return _select(df, **filters)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "user"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _must_exist(bank_path: str) -> None:
    """Writers create a missing bank; commands that only change one must not."""
    if not os.path.exists(bank_path):
        raise HardmineError(f"bank {bank_path} does not exist; check the path")


# one spelling in every bank command that prints JSON
JSON = click.option("--json", "as_json", is_flag=True, default=False, help="Print JSON instead of text.")


@bank.command()
@BANK
@case_filters(order=False)
@JSON
def summary(bank_path: str, as_json: bool, **filters) -> None:
    """Size, counts by status, true/predicted label, round and jitter, the confusion table, file
    size; the counts are of the cases passing the filters (e.g. --status trainable)."""
    with Bank.open(bank_path) as b:
        m = b.manifest
        df = b.table()
        info = dict(path=bank_path, schema=m.schema, created=m.created, created_by=m.created_by,
                    shards=len(m.shards["name"]), bytes=disk_bytes(m), total=len(df),
                    filtered=any(filters.get(name) is not None for name in SELECTING)
                    or set(filters["status"]) != set(NAMES))
        s = render.summary(_select(df, sort="id", limit=None, **filters), info)
    click.echo(json.dumps(s, indent=1) if as_json else render.summary_text(s))


@bank.command("list")
@BANK
@case_filters()
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="Output format; csv and json carry every field but the pixels.")
@JSON
def list_cases(bank_path: str, fmt: str, as_json: bool, **filters) -> None:
    """List cases, filtered and sorted."""
    if as_json and fmt not in ("table", "json"):
        raise HardmineError(f"bank list: --json and --format {fmt} ask for two formats; give one")
    fmt = "json" if as_json else fmt
    df = _selected(bank_path, **filters)
    if fmt == "table":
        click.echo(render.listing(df))
    elif fmt == "csv":
        click.echo(df.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%SZ"), nl=False)
    else:
        click.echo(df.to_json(orient="records", date_format="iso"))


@bank.command()
@BANK
@click.argument("case_id", metavar="ID", type=click.IntRange(0, 2**63 - 1))
@click.option("--png", type=click.Path(dir_okay=False), default=None, help="Also save the digit as a PNG [default: no].")
def show(bank_path: str, case_id: int, png: str | None) -> None:
    """Metadata of one case and its digit drawn in the terminal."""
    if png:
        check_output(png, "show", (".png",))
    with Bank.open(bank_path) as b:
        df = b.table()
        rows = df[df["id"] == case_id]
        if not len(rows):
            raise HardmineError(f"bank {bank_path}: no case with id {case_id}; list ids with `hardmine bank list`")
        image = b.images([case_id])[0]
    click.echo(render.case_text(next(rows.itertuples()), image))
    if png:
        write_atomically(png, lambda tmp: render.save_png(image, str(tmp)), "show")


@bank.command()
@BANK
@case_filters()
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG file to write (required).")
@click.option("--cols", type=click.IntRange(1, 32), default=8, show_default=True, help="Images per row.")
def montage(bank_path: str, out: str, cols: int, **filters) -> None:
    """A grid of cases captioned "true -> predicted (probability)" (64 at most unless --limit)."""
    check_output(out, "montage", (".png",))
    filters["limit"] = filters["limit"] or 64
    df = _selected(bank_path, **filters)
    if not len(df):
        raise HardmineError(f"montage: no case of {bank_path} matches the filters; see `hardmine bank summary`")
    with Bank.open(bank_path) as b:
        images = b.images(df["id"].to_numpy())
    write_atomically(out, lambda tmp: render.montage(df, images, str(tmp), cols), "montage")
    click.echo(f"wrote {len(df)} cases to {out}")


@bank.command()
@BANK
@case_filters(status_default="trainable")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="FILE.npz (images, labels, true, status, ids, pred, probs, round, jitter) or FILE.csv "
                   "(Kaggle layout).")
def export(bank_path: str, out: str, **filters) -> None:
    """Write cases to .npz or to Kaggle-layout .csv (label,pixel0..pixel783).

    Labels are effective labels (a relabelled case's new label, else the true
    label). Only trainable cases are written unless --status says otherwise
    (--status all writes every case; the .npz then carries each case's status)."""
    transfer.check_out(bank_path, out)  # before reading anything: the bank's own files are never a target
    check_output(out, "export", transfer.FORMATS)
    ids = _selected(bank_path, **filters)["id"].to_numpy()
    try:
        with progress_bar(len(ids), "exporting cases") as advance:
            n = transfer.export_cases(bank_path, ids, out, progress=advance)
    except OSError as exc:  # a full disk, a vanished folder; export_cases leaves nothing at --out
        reason = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
        raise HardmineError(f"export {bank_path} to {out} failed ({reason}); nothing was written to {out}") from None
    click.echo(f"exported {n} cases to {out}")


@bank.command("import")
@BANK
@click.option("--from", "source", type=click.Path(dir_okay=False), required=True,
              help="FILE.npz (images/labels, x/y or x_train/y_train) or Kaggle FILE.csv (required).")
@click.option("--key", default=None, help="Idempotency key [default: file name + content hash, so a re-import adds nothing].")
@click.option("--model-id", default="unknown", show_default=True, help="Model that got these cases wrong.")
def import_cases(bank_path: str, source: str, key: str | None, model_id: str) -> None:
    """Add real hard cases (e.g. production errors), marked source=imported, round -1.
    Creates the bank if it does not exist."""
    cases = transfer.read_cases(source)  # everything checked before the bank is touched
    _writable_bank(bank_path, "import: cannot write bank")
    key = key or transfer.import_key(source)
    with Bank.open(bank_path, "a") as b:
        before = len(b)
        ids = b.append(cases["images"], cases["labels"], cases.get("pred"), cases.get("probs"),
                       round=-1, model_id=model_id, source="imported", key=key)
        added = len(b) - before
    if added:
        click.echo(f"imported {added} cases from {source} into {bank_path} (ids {ids[0]}..{ids[-1]})")
    else:
        click.echo(f"{source} was already imported (key {key}); nothing added")


@bank.command()
@BANK
def verify(bank_path: str) -> None:
    """Check structure and every case's checksum; exit 1 with the first finding if damaged."""
    findings, cases = verify_bank(bank_path)
    if findings:
        more = f" (+{len(findings) - 1} more findings)" if len(findings) > 1 else ""
        click.echo(f"verify {bank_path}: {findings[0]}{more}")
        raise click.exceptions.Exit(1)
    click.echo(f"ok: {cases} cases, structure and checksums intact")


@bank.command()
@BANK
@click.option("--keep", type=click.IntRange(min=0), required=True, help="Number of cases to keep (required).")
@click.option("--policy", type=click.Choice(list(POLICIES)), default="newest", show_default=True,
              help="newest | hardest (lowest probability of the true class) | balanced (equal per true label).")
def prune(bank_path: str, keep: int, policy: str) -> None:
    """Cap the bank at --keep cases; rewrites only the shards that lose cases."""
    _must_exist(bank_path)
    _writable_bank(bank_path, "prune: cannot rewrite bank")
    with Bank.open(bank_path, "a") as b:
        before = len(b)
        removed = b.prune(keep, policy)
    click.echo(f"pruned {removed} cases (policy {policy}): {before} -> {before - removed} cases")


# review flag -> status it sets; --relabel D (status relabelled) takes a digit
REVIEW_FLAGS = {"accept": "accepted", "reject": "rejected", "quarantine": "ambiguous"}
@bank.command()
@BANK
@click.option("--accept", is_flag=True, help="The true label is right: trainable (accepted).")
@click.option("--reject", is_flag=True, help="Unusable: never trained on (rejected).")
@click.option("--quarantine", is_flag=True, help="Not trained on until reviewed (ambiguous).")
@click.option("--relabel", type=click.IntRange(0, 9), default=None, metavar="D",
              help="The case shows digit D: trainable under label D (relabelled).")
@click.option("--id", "ids", type=int, multiple=True, metavar="ID",
              help="A case to review; repeat for several. Not combined with filters.")
@case_filters(status_default=None)
@click.option("--key", default=None, help="Idempotency key: a review whose key was applied changes nothing "
                                          "[default: none].")
@click.option("--by", default=lambda: _user(), show_default="your user name", help="Who decides (recorded).")
@JSON
def review(bank_path: str, accept: bool, reject: bool, quarantine: bool, relabel: int | None, ids: tuple[int, ...],
           key: str | None, by: str, as_json: bool, **filters) -> None:
    """Set the review status of cases chosen by --id or by filters, in one atomic commit.

    Exactly one of --accept, --reject, --relabel D, --quarantine. Cases chosen by
    filters (the same as `bank list`; --status defaults to all) or by --id; a
    review with neither is refused (use --status all for every case). Cases
    already in that state are counted, not rewritten."""
    flags = dict(accept=accept, reject=reject, quarantine=quarantine)
    if sum(flags.values()) + (relabel is not None) != 1:
        raise HardmineError("bank review: give exactly one of --accept, --reject, --relabel D, --quarantine")
    narrowed = any(filters[name] is not None for name in SELECTING) or filters["status"] is not None
    if ids and narrowed:
        raise HardmineError("bank review: choose cases by --id or by filters, not both")
    if not ids and not narrowed:
        raise HardmineError("bank review: choose cases with --id or a filter (--label, --pred, --round, "
                            "--min-jitter, --max-jitter, --status, --limit); --status all reviews every case")
    status = RELABELLED if relabel is not None else next(REVIEW_FLAGS[f] for f, on in flags.items() if on)
    _must_exist(bank_path)
    _writable_bank(bank_path, "review: cannot write bank")
    if ids:  # a refused review takes no lock and leaves no lock file: check the ids read-only first
        with Bank.open(bank_path) as b:
            missing = sorted(set(ids) - set(b.table()["id"]))
        if missing:
            raise HardmineError(f"bank {bank_path}: no case with id {missing[0]}; list ids with `hardmine bank list`")
    with Bank.open(bank_path, "a") as b:  # choose under the writer's lock: what is counted is what is reviewed
        df = b.table()
        chosen = df[df["id"].isin(ids)] if ids else _select(df, **filters)
        missing = sorted(set(ids) - set(df["id"]))
        if missing:
            raise HardmineError(f"bank {bank_path}: no case with id {missing[0]}; list ids with `hardmine bank list`")
        already = int(((chosen["status"] == status) & ((relabel is None) | (chosen["label"] == relabel))).sum())
        replayed = key is not None and key in set(b.manifest.reviews["key"])
        changed = b.review(chosen["id"].to_numpy(), status, relabel, by=by, key=key)
    result = dict(bank=bank_path, cases=len(chosen), status=status, label=relabel, changed=changed,
                  already=already, key=key, replayed=replayed)
    if as_json:
        click.echo(json.dumps(result))
    elif replayed:
        click.echo(f"review key {key} was already applied to {bank_path}; nothing changed")
    else:
        what = f"{status} as {relabel}" if relabel is not None else status
        click.echo(f"reviewed {_count(len(chosen), 'case')}: {len(chosen)} {what}" + (f" ({already} already were)" if already else ""))


@bank.command()
@BANK
@click.option("--status", "status", type=click.Choice([n for n in NAMES if n != RELABELLED]), default="ok",
              show_default=True,
              help="Review status every recovered case gets (decisions live in the lost main file): "
                   "ambiguous quarantines the bank until it is reviewed again.")
def recover(bank_path: str, status: str) -> None:
    """Rebuild a deleted main file from BANK.shards/ (see docs/store.md: what is recovered, what is lost)."""
    from store.recover import KEY_PREFIX, LOST, recover_bank

    r = recover_bank(bank_path, status)
    click.echo(f"recovered {_count(r['cases'], 'case')} from {_count(r['shards'], 'shard')} into {bank_path}"
               + (f" ({_count(r['superseded'], 'superseded shard')} left out)" if r["superseded"] else ""))
    click.echo(f"lost with the main file: append keys (now {KEY_PREFIX}N), rounds (now {LOST['round']}), model ids "
               f"(now {LOST['model_id']}), review decisions (every case is now {status})")
    if r["findings"]:
        click.echo(f"verify {bank_path}: {r['findings'][0]}")
        raise click.exceptions.Exit(1)
