"""Gallery: a real SQLite database and real image files in a temporary folder."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from app import metadata, paths
from app.gallery import SCHEMA_VERSION, UNDO_WINDOW, Gallery, GalleryError
from app.gallery import schema as gallery_schema
from app.gallery import store as gallery_store

PROMPTS = [
    ("a neon city at night, rain, reflections", "blurry"),
    ("mountain lake at sunrise, mist", "people, text"),
    ("retro poster of a rocket launch", "watermark"),
    ("portrait of a cat in a space suit", "blurry, low quality"),
]


def make_image(width: int = 320, height: int = 200, seed: int = 0) -> Image.Image:
    """A small procedural picture: a gradient with a few shapes that depend on seed."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(4):
        x, y = (seed * 37 + i * 53) % width, (seed * 17 + i * 29) % height
        draw.ellipse((x, y, x + width // 5, y + height // 5), fill=((seed * 50) % 256, 40 * i, 200))
    return image


def make_params(prompt: str, negative: str = "", seed: int = 1, width: int = 320, height: int = 200) -> dict:
    """Generation settings as the worker builds them."""
    return metadata.build_params(
        prompt, negative, width, height, steps=20, guidance=4.5, seed=seed, model="tiny", kv_compress="off"
    )


@pytest.fixture
def gallery(tmp_path):
    store = Gallery(tmp_path / "gallery")
    yield store
    store.close()


def add_samples(store: Gallery) -> list:
    """Add the PROMPTS images; returns their records in insertion order."""
    return [store.add(make_image(seed=i), make_params(p, n, seed=i)) for i, (p, n) in enumerate(PROMPTS)]


def files_under(folder: Path) -> list[Path]:
    """Every file below folder."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ---------------------------------------------------------------------------------------------
# Adding and reading
# ---------------------------------------------------------------------------------------------

def test_add_writes_png_with_metadata_thumbnail_and_row(gallery):
    record = gallery.add(make_image(), make_params("a neon city", "blurry", seed=42))

    assert record.id > 0 and record.exists
    assert record.path.suffix == ".png" and record.path.parent.parent == gallery.images_dir
    assert record.path.parent.name == record.created[:7]  # images/YYYY-MM/
    assert (record.prompt, record.negative, record.seed, record.steps) == ("a neon city", "blurry", 42, 20)
    assert (record.width, record.height, record.guidance, record.model) == (320, 200, 4.5, "tiny")
    assert record.kv_compress == "off" and record.favourite is False
    assert record.params["prompt"] == "a neon city"
    stored = metadata.read_params(record.path)
    assert stored["prompt"] == "a neon city" and stored["seed"] == 42
    with Image.open(record.thumb_path) as thumb:
        assert thumb.format in ("JPEG", "WEBP") and thumb.size == (256, 160)
    assert gallery.get(record.id) == record
    assert gallery.get(99999) is None


def test_default_root_is_the_platform_gallery_folder():
    store = Gallery()
    try:
        record = store.add(make_image(), make_params("default place"))
        assert store.root == paths.gallery_dir()
        assert record.path.is_relative_to(paths.gallery_dir())
        assert record.thumb_path.is_relative_to(paths.thumbnail_dir())
    finally:
        store.close()


def test_schema_is_versioned_and_in_wal_mode(gallery):
    conn = sqlite3.connect(gallery.db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    root = tmp_path / "g"
    Gallery(root).close()
    conn = sqlite3.connect(root / "gallery.sqlite3")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(GalleryError, match="newer Sigma Studio"):
        Gallery(root)


def test_migrations_run_in_order_from_an_older_version(tmp_path, monkeypatch):
    calls = []

    def add_note_column(conn):
        calls.append("1->2")
        conn.execute("ALTER TABLE images ADD COLUMN note TEXT")

    root = tmp_path / "g"
    Gallery(root).close()
    monkeypatch.setattr(gallery_schema, "MIGRATIONS", [*gallery_schema.MIGRATIONS, add_note_column])
    monkeypatch.setattr(gallery_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    store = Gallery(root)
    store.add(make_image(), make_params("after migration"))
    store.close()
    Gallery(root).close()  # already current: no migration runs twice
    assert calls == ["1->2"]


# ---------------------------------------------------------------------------------------------
# Query, search, favourites
# ---------------------------------------------------------------------------------------------

def test_query_orders_pages_and_counts(gallery):
    records = add_samples(gallery)
    ids = [r.id for r in records]

    assert [r.id for r in gallery.query()] == ids[::-1]
    assert [r.id for r in gallery.query(newest_first=False)] == ids
    assert [r.id for r in gallery.query(offset=1, limit=2)] == ids[::-1][1:3]
    assert gallery.count() == 4
    assert gallery.ids() == ids[::-1]


@pytest.mark.parametrize("use_fts", [True, False], ids=["fts5", "like"])
def test_search_matches_prompt_and_negative(gallery, use_fts):
    add_samples(gallery)
    if not use_fts:
        gallery.has_fts = False  # the LIKE fallback used when SQLite has no FTS5
    elif not gallery.has_fts:
        pytest.skip("this SQLite has no FTS5")

    def prompts(text):
        return sorted(r.prompt for r in gallery.query(text))

    assert prompts("neon") == ["a neon city at night, rain, reflections"]
    assert prompts("NEON City") == ["a neon city at night, rain, reflections"]  # any case, all words
    assert prompts("blurry") == ["a neon city at night, rain, reflections", "portrait of a cat in a space suit"]
    assert prompts("watermark rocket") == ["retro poster of a rocket launch"]  # negative + prompt
    assert prompts("moun") == ["mountain lake at sunrise, mist"]  # words match as prefixes
    assert prompts("neon lake") == []
    assert gallery.count("blurry") == 2
    assert len(gallery.ids("a")) == 4
    for odd in ['"', "100%", "a_b", "--", "neon*", "(", "NEAR", "AND OR NOT", "c'est", "\\"]:
        gallery.query(odd)  # user text never breaks the query
        gallery.count(odd)


def test_favourites(gallery):
    records = add_samples(gallery)
    gallery.set_favourite(records[1].id, True)
    gallery.set_favourite(records[3].id, True)
    gallery.set_favourite(records[3].id, False)

    assert [r.id for r in gallery.query(favourites_only=True)] == [records[1].id]
    assert gallery.get(records[1].id).favourite is True
    assert gallery.count(favourites_only=True) == 1
    assert gallery.ids("mist", favourites_only=True) == [records[1].id]
    assert gallery.count("neon", favourites_only=True) == 0
    with pytest.raises(GalleryError, match="not in the gallery"):
        gallery.set_favourite(12345, True)


# ---------------------------------------------------------------------------------------------
# Delete, undo, purge
# ---------------------------------------------------------------------------------------------

def test_delete_moves_to_trash_and_undo_restores(gallery):
    records = add_samples(gallery)
    gone = records[:2]

    token = gallery.delete([r.id for r in gone])

    assert set(token.ids) == {r.id for r in gone}
    assert gallery.count() == 2 and gallery.get(gone[0].id) is None
    assert all(r.id not in gallery.ids() for r in gone)
    assert gallery.count("neon") == 0
    for record in gone:
        assert not record.path.exists() and not record.thumb_path.exists()
    assert len(files_under(gallery.trash_dir)) == 2

    assert sorted(gallery.undo_delete(token)) == sorted(token.ids)

    assert gallery.count() == 4 and gallery.count("neon") == 1
    for record in gone:
        assert record.path.is_file() and record.thumb_path.is_file()
        assert gallery.get(record.id) == record
    assert files_under(gallery.trash_dir) == []
    with pytest.raises(GalleryError, match="Nothing to undo"):
        gallery.undo_delete(token)


def test_purge_trash_deletes_for_good(gallery):
    records = add_samples(gallery)
    token = gallery.delete([records[0].id])

    assert gallery.purge_trash() == 1

    assert files_under(gallery.trash_dir) == [] and not records[0].path.exists()
    assert gallery.count() == 3
    with pytest.raises(GalleryError, match="trash was emptied"):
        gallery.undo_delete(token)
    fresh = gallery.add(make_image(), make_params("after purge"))
    assert fresh.id > records[-1].id  # ids are never reused, so views never confuse two images


def delete_made_ago(monkeypatch, gallery: Gallery, ids: list[int], ago: timedelta):
    """gallery.delete(ids) as if it had been made `ago` before now."""
    class Earlier(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) - ago

    with monkeypatch.context() as patch:
        patch.setattr(gallery_store, "datetime", Earlier)
        return gallery.delete(ids)


def test_purge_trash_keeps_deletes_that_can_still_be_undone(gallery, monkeypatch):
    records = add_samples(gallery)
    old = delete_made_ago(monkeypatch, gallery, [records[0].id], UNDO_WINDOW + timedelta(seconds=5))
    recent = gallery.delete([records[1].id])

    assert gallery.purge_trash(older_than=UNDO_WINDOW) == 1

    with pytest.raises(GalleryError, match="trash was emptied"):
        gallery.undo_delete(old)
    assert not any(old.token in str(path) for path in files_under(gallery.trash_dir))
    assert sorted(gallery.undo_delete(recent)) == [records[1].id]  # still inside its undo window
    assert records[1].path.is_file() and gallery.count() == 3


def test_import_images_copies_several_files_and_reports_the_bad_ones(gallery, tmp_path):
    good = []
    for i in range(3):
        path = tmp_path / f"in{i}.png"
        metadata.save_image(make_image(seed=i), path, make_params(f"imported {i}", seed=i), fmt="png")
        good.append(path)
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")

    records, errors = gallery.import_images([*good, junk, tmp_path / "missing.png"])

    assert sorted(r.prompt for r in records) == ["imported 0", "imported 1", "imported 2"]
    assert all(r.path.is_file() and r.path.is_relative_to(gallery.images_dir) for r in records)
    assert len(errors) == 2 and "junk.png" in errors[0] and "does not exist" in errors[1]
    assert gallery.count() == 3


# ---------------------------------------------------------------------------------------------
# Persistence, failures, missing files, import
# ---------------------------------------------------------------------------------------------

def test_records_favourites_and_trash_survive_a_restart(tmp_path):
    root = tmp_path / "g"
    first = Gallery(root)
    records = add_samples(first)
    first.set_favourite(records[2].id, True)
    token = first.delete([records[0].id])
    first.close()

    second = Gallery(root)
    try:
        assert [r.id for r in second.query()] == [r.id for r in records[1:]][::-1]
        assert second.get(records[2].id) == dataclasses.replace(records[2], favourite=True)
        assert second.count("rocket") == 1
        second.undo_delete(token.token)  # the token's string is enough after a restart
        assert second.get(records[0].id) == records[0]
    finally:
        second.close()


def test_closed_gallery_says_so(gallery):
    gallery.close()
    with pytest.raises(GalleryError, match="closed"):
        gallery.query()


@pytest.mark.parametrize("failing_step", ["thumbnail", "row"])
def test_failed_add_leaves_nothing_behind(gallery, monkeypatch, failing_step):
    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if failing_step == "thumbnail":
        monkeypatch.setattr(gallery_store, "_write_thumbnail", boom)
    else:
        monkeypatch.setattr(gallery, "_insert", boom)

    with pytest.raises(OSError, match="No space"):
        gallery.add(make_image(), make_params("doomed"))

    assert files_under(gallery.images_dir) == [] and files_under(gallery.thumbs_dir) == []
    assert gallery.count() == 0


def test_missing_files_are_flagged_not_fatal(gallery):
    records = add_samples(gallery)
    lost = records[1]
    lost.path.unlink()

    again = gallery.get(lost.id)
    assert again is not None and again.exists is False
    assert lost.id in [r.id for r in gallery.query()]
    assert gallery.missing() == [lost.id]
    assert gallery.thumbnail(lost.id) == lost.thumb_path  # the thumbnail is still there

    lost.thumb_path.unlink()
    with pytest.raises(GalleryError, match="missing"):
        gallery.thumbnail(lost.id)

    token = gallery.delete([lost.id])  # deleting a record whose files are gone works too
    assert token.ids == (lost.id,)


def test_thumbnail_is_regenerated_when_missing(gallery):
    record = gallery.add(make_image(600, 300), make_params("wide"))
    record.thumb_path.unlink()

    path = gallery.thumbnail(record.id)

    with Image.open(path) as thumb:
        assert thumb.size == (256, 128)


def test_import_image_reads_its_settings(gallery, tmp_path):
    source = tmp_path / "outside.png"
    metadata.save_image(make_image(), source, make_params("imported lighthouse", "fog", seed=7))

    record = gallery.import_image(source)

    assert record.prompt == "imported lighthouse" and record.negative == "fog" and record.seed == 7
    assert record.path.is_relative_to(gallery.images_dir) and record.path.read_bytes() == source.read_bytes()
    assert record.thumb_path.is_file()
    assert gallery.count("lighthouse") == 1


def test_import_image_without_settings_and_bad_files(gallery, tmp_path):
    plain = tmp_path / "photo.jpg"
    make_image().save(plain, "JPEG")
    record = gallery.import_image(plain)
    assert record.prompt == "" and record.path.suffix == ".jpg" and (record.width, record.height) == (320, 200)

    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(GalleryError, match="not an image"):
        gallery.import_image(text)
    with pytest.raises(GalleryError, match="does not exist"):
        gallery.import_image(tmp_path / "nope.png")
    assert gallery.count() == 1


# ---------------------------------------------------------------------------------------------
# Threads and scale
# ---------------------------------------------------------------------------------------------

def test_worker_thread_adds_while_ui_thread_reads(gallery):
    errors: list[BaseException] = []
    added: list[int] = []

    def worker():
        try:
            for i in range(15):
                added.append(gallery.add(make_image(64, 64, seed=i), make_params(f"thread image {i}")).id)
        except Exception as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    reads = 0
    while thread.is_alive() or reads < 5:
        page = gallery.query("thread")
        assert all(r.prompt.startswith("thread image") for r in page)
        assert gallery.count() >= len(page)
        reads += 1
    thread.join()

    assert errors == []
    assert gallery.count("thread") == 15 and sorted(gallery.ids()) == sorted(added)
    print(f"\n[gallery] {reads} reads from the UI thread while the worker added 15 images")


def test_ten_thousand_rows_query_count_search_and_delete(gallery):
    """What the operations return at 10,000 rows; how fast they are: benchmarks/gallery_scale.py."""
    for i in range(10):
        gallery.add(make_image(64, 64, seed=i), make_params(f"timed add {i}"))

    words = ["neon", "city", "forest", "poster", "cat", "ocean", "castle", "desert", "robot", "flower"]
    month = gallery.images_dir / "2024-01"
    entries = []
    for i in range(10_000):
        prompt = f"{words[i % 10]} {words[(i * 7) % 10]} scene number {i}"
        entries.append((month / f"bulk_{i:05d}.png",
                        make_params(prompt, "blurry" if i % 3 == 0 else "", seed=i, width=1024, height=1024)))
    new_ids = gallery.add_bulk(entries)
    assert len(new_ids) == 10_000 and len(set(new_ids)) == 10_000
    for i in range(0, 10_000, 400):
        gallery.set_favourite(new_ids[i], True)

    assert len(gallery.query(limit=200)) == 200 and len(gallery.query(offset=9000, limit=200)) == 200
    assert len(gallery.query("blurry", offset=2000, limit=200)) == 200
    assert len(gallery.ids()) == 10_010 and len(gallery.ids("forest")) == gallery.count("forest")
    gallery.has_fts = False
    like_city_desert = gallery.count("city desert")
    gallery.has_fts = True
    assert like_city_desert == gallery.count("city desert")  # the LIKE fallback finds what FTS5 finds

    assert gallery.count() == 10_010
    token = gallery.delete(new_ids[:1500])  # more ids than old SQLite allows parameters
    assert len(token.ids) == 1500 and gallery.count() == 8_510
    gallery.undo_delete(token)
    assert gallery.count("neon") == sum("neon" in params["prompt"] for _, params in entries)
    assert gallery.count("city desert") == 1_000 and len(gallery.query("city desert")) == 200
    assert gallery.count(favourites_only=True) == 25
    assert all(not r.exists for r in gallery.query(limit=5))  # bulk rows without files: flagged missing


def test_add_bulk_refuses_paths_outside_the_gallery(gallery, tmp_path):
    with pytest.raises(GalleryError, match="import_image"):
        gallery.add_bulk([(tmp_path / "elsewhere.png", make_params("x"))])
