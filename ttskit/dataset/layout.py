"""The dataset folder on disk, written so that a crash at any moment loses nothing.

::

    out/
      data/                   audio and metadata (or one folder per split: train/, test/)
        3f2a...e1.flac
        metadata.jsonl        Hugging Face audiofolder metadata: file_name first
      .ttskit/                hidden, so that `datasets` and other tools skip it
        dataset.json          settings fixed for the folder (its splits)
        journal               one JSON line per finished item: the truth

A file is written under a hidden temporary name and renamed into place. An item is
done when its journal line is complete and its audio file exists; the audio is renamed
before the line is appended, so a crash leaves at most an audio file without a line (an
orphan) or a temporary file, both removed by ``recover``. The metadata files are
rebuilt from the journal. Only this process writes here: workers hand back bytes.

Nothing of the user's is deleted: ``recover`` removes only files named as ttskit names
them (an item id and an audio suffix, or a temporary name), and ``overwrite`` only
empties a folder all of whose files the dataset made. Folders that ttskit makes for
other purposes (the demo's, an export) carry a marker file, ``MARKER_FILE``, that says
what made them; ``made_by`` reads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import FileError, InvalidArgument

__all__ = ["MARKER_FILE", "Journal", "Layout", "listing", "made_by", "mark", "write_atomic"]

STATE_DIR = ".ttskit"
SETTINGS_FILE = "dataset.json"
JOURNAL_FILE = "journal"
METADATA_FILE = "metadata.jsonl"
TEMP_SUFFIX = ".partial"
DEFAULT_DIR = "data"
#: Row fields kept out of the Hugging Face metadata: bookkeeping, or said by the folder.
NOT_METADATA = ("status", "error", "attempts", "split", "path")
#: The file that says which part of ttskit made a folder (the demo's, an export).
MARKER_FILE = ".ttskit-folder"
#: An audio file as the dataset names it: its item id and an audio suffix.
_AUDIO_NAME = re.compile(r"[0-9a-f]{16}\.(?:flac|wav|ogg|mp3)")


def _temp(path: Path) -> Path:
    """The hidden temporary name ``path`` is written under before its rename."""
    return path.with_name(f".{path.name}{TEMP_SUFFIX}")


def _is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a hidden temporary file and a rename."""
    temp = _temp(path)
    try:
        with open(temp, "wb") as file:
            file.write(data)
        os.replace(temp, path)
    except OSError as exc:
        raise FileError.from_os_error(exc) from exc


def mark(folder: Path, made_by: str) -> None:
    """Say in ``folder`` that ``made_by`` (e.g. ``"ttskit demo"``) made it."""
    write_atomic(folder / MARKER_FILE, json.dumps({"made_by": made_by}).encode("utf-8"))


def made_by(folder: Path) -> str | None:
    """What made ``folder``, as its marker file says; None for a folder without one."""
    try:
        kept = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return kept.get("made_by") if isinstance(kept, dict) else None


def listing(paths: Iterable[Path], root: Path, *, limit: int = 3) -> str:
    """A few of ``paths``, relative to ``root``, for a message."""
    listed = sorted(p.relative_to(root).as_posix() for p in paths)
    shown = ", ".join(listed[:limit])
    return shown + (f" and {len(listed) - limit} more" if len(listed) > limit else "")


class Journal:
    """The append-only record of finished items: one JSON object per line, by ``id``.

    A line cut short by a crash is not a record: reading stops trusting the file at the
    first line that does not parse, and ``rewrite`` drops it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None

    def read(self) -> dict[str, dict[str, Any]]:
        """The last record of each item id."""
        return {record["id"]: record for record in self.latest()}

    def offsets(self) -> dict[str, int]:
        """Where in the file the last record of each item id starts."""
        return {record_id: offset for offset, record_id, _ in self._lines(parse_id_only=True)}

    def latest(self, offsets: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
        """The last record of each item id, one at a time in the file's order, so that
        a large journal is never held in memory whole."""
        wanted = set((self.offsets() if offsets is None else offsets).values())
        for offset, _, record in self._lines():
            if offset in wanted:
                yield record

    def at(self, offsets: Iterable[int]) -> Iterator[dict[str, Any]]:
        """The records starting at ``offsets`` (from ``offsets()``), in that order."""
        with open(self.path, "rb") as file:
            for offset in offsets:
                file.seek(offset)
                yield json.loads(file.readline())

    def _lines(self, *, parse_id_only: bool = False) -> Iterator[tuple[int, str, Any]]:
        # Trust stops at the first line that is cut short or does not parse.
        if not self.path.exists():
            return
        with open(self.path, "rb") as file:
            offset = 0
            for line in file:
                if not line.endswith(b"\n"):
                    return
                try:
                    record = json.loads(line)
                except ValueError:
                    return
                if isinstance(record, dict) and isinstance(record.get("id"), str):
                    yield offset, record["id"], None if parse_id_only else record
                offset += len(line)

    def rewrite(self, records: Iterable[dict[str, Any]]) -> None:
        """Replace the journal with ``records``, atomically."""
        self.close()
        lines = "".join(_line(r) for r in records)
        write_atomic(self.path, lines.encode("utf-8"))

    def append(self, record: dict[str, Any]) -> None:
        """Add ``record`` as one complete line, handed to the OS before returning."""
        if self._file is None:
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open across appends
        self._file.write(_line(record).encode("utf-8"))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"


class Layout:
    """Paths of a dataset folder, and the operations that keep it consistent.

    Parameters
    ----------
    root : path
        The dataset folder (``out``).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.state = self.root / STATE_DIR
        self.journal = Journal(self.state / JOURNAL_FILE)

    # --- the folder ---------------------------------------------------------------------

    def is_dataset(self) -> bool:
        return self.state.is_dir()

    def prepare(self, *, settings: dict[str, Any], overwrite: bool = False) -> None:
        """Make the folder ready to write: refuse a folder that holds something else,
        empty it when ``overwrite`` (only of what the dataset made), and check that
        ``settings`` match its own."""
        if self.root.exists() and not self.root.is_dir():
            raise InvalidArgument(f"out={str(self.root)!r} is a file, not a folder")
        foreign = self.foreign()
        if foreign and not self.is_dataset():
            raise InvalidArgument(
                f"out={str(self.root)!r} holds files that are not a ttskit dataset "
                f"({listing(foreign, self.root)}); ttskit writes a dataset only into a new or "
                "empty folder, and overwrite=True deletes only a dataset ttskit made"
            )
        if overwrite and self.is_dataset():
            if foreign:
                raise InvalidArgument(
                    f"out={str(self.root)!r} holds files the dataset did not make "
                    f"({listing(foreign, self.root)}), so overwrite=True would delete them; "
                    "move them out of the folder, or choose another folder"
                )
            self.remove()
        try:
            self.state.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FileError.from_os_error(exc) from exc
        settings_path = self.state / SETTINGS_FILE
        if settings_path.exists():
            kept = json.loads(settings_path.read_text(encoding="utf-8"))
            for key, value in settings.items():
                if key in kept and kept[key] != value:
                    raise InvalidArgument(
                        f"out={str(self.root)!r} was made with {key}={kept[key]!r}, not "
                        f"{value!r}; use the same, another folder, or overwrite=True"
                    )
        write_atomic(settings_path, json.dumps(settings, indent=2).encode("utf-8"))

    def foreign(self) -> list[Path]:
        """What is in the folder that the dataset did not make: everything in a folder
        that is no dataset; else what is neither its bookkeeping, its audio folders'
        metadata, audio files named as it names them, nor its temporary files."""
        if not self.root.is_dir():
            return []
        if not self.is_dataset():
            return list(self.root.iterdir())
        audio_dirs = {folder.name for folder in self.audio_dirs() if not folder.is_symlink()}
        found = []
        for child in self.root.iterdir():
            if child.name == STATE_DIR:
                continue
            if child.name not in audio_dirs:
                found.append(child)
                continue
            found.extend(path for path in child.iterdir() if not self._made_here(path))
        return found

    @staticmethod
    def _made_here(path: Path) -> bool:
        """Whether ``path``, in an audio folder, is a file of the kinds the dataset writes."""
        if path.is_symlink() or not path.is_file():
            return False
        return (
            path.name == METADATA_FILE
            or bool(_AUDIO_NAME.fullmatch(path.name))
            or _is_temp(path.name)
        )

    def remove(self) -> None:
        """Delete the dataset: its audio folders, then its bookkeeping, so that a run
        killed halfway leaves a folder still known as a dataset."""
        self.journal.close()
        for folder in self.audio_dirs():
            shutil.rmtree(folder)
        shutil.rmtree(self.state)

    def audio_dir(self, split: str | None) -> Path:
        return self.root / (split or DEFAULT_DIR)

    def file_name(self, item_id: str, format: str, split: str | None) -> str:
        """The audio file's path relative to the dataset folder, with ``/``."""
        return f"{split or DEFAULT_DIR}/{item_id}.{format}"

    def settings(self) -> dict[str, Any]:
        path = self.state / SETTINGS_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def audio_dirs(self) -> list[Path]:
        """Existing folders that hold this dataset's audio: ``data/`` or the split folders."""
        splits = self.settings().get("splits") or {}
        names = list(splits) if splits else [DEFAULT_DIR]
        return [self.root / name for name in names if (self.root / name).is_dir()]

    # --- crash recovery -----------------------------------------------------------------

    def recover(self) -> dict[str, dict[str, Any]]:
        """Bring the folder back to a consistent state and return its records.

        Removes temporary files, audio files (named as the dataset names them) that no
        complete record names, and records of done items whose audio file is gone;
        rewrites the journal without a torn last line.
        """
        records = self.journal.read()
        wanted = {
            r["file_name"]
            for r in records.values()
            if r.get("status") == "ok" and r.get("file_name")
        }
        for folder in [self.state, *self.audio_dirs()]:
            for path in folder.iterdir():
                if path.is_symlink() or not path.is_file():
                    continue
                if _is_temp(path.name) or (
                    folder != self.state
                    and _AUDIO_NAME.fullmatch(path.name)
                    and f"{folder.name}/{path.name}" not in wanted
                ):
                    path.unlink()
        kept = {
            item_id: record
            for item_id, record in records.items()
            if record.get("status") != "ok" or (self.root / record["file_name"]).is_file()
        }
        self.journal.rewrite(kept.values())
        return kept

    # --- metadata -----------------------------------------------------------------------

    def write_metadata(self, records: Iterable[dict[str, Any]]) -> None:
        """Write ``metadata.jsonl`` into each audio folder from the done ``records``.

        ``file_name`` is relative to the metadata file, as Hugging Face's audiofolder
        expects; folders left without items lose their metadata file.
        """
        # Written line by line into each folder's temporary file, so that a large
        # dataset's metadata is never held in memory whole.
        files: dict[str, Any] = {}
        try:
            for record in records:
                if record.get("status") != "ok":
                    continue
                folder, _, name = record["file_name"].partition("/")
                row = {"file_name": name}
                row.update(
                    (k, v) for k, v in record.items() if k != "file_name" and k not in NOT_METADATA
                )
                if folder not in files:
                    (self.root / folder).mkdir(parents=True, exist_ok=True)
                    files[folder] = open(_temp(self.root / folder / METADATA_FILE), "wb")  # noqa: SIM115
                files[folder].write(_line(row).encode("utf-8"))
        except OSError as exc:
            raise FileError.from_os_error(exc) from exc
        finally:
            for file in files.values():
                file.close()
        for folder in self.audio_dirs():
            if folder.name not in files:
                with contextlib.suppress(FileNotFoundError):
                    (folder / METADATA_FILE).unlink()
        for folder in files:
            path = self.root / folder / METADATA_FILE
            os.replace(_temp(path), path)
