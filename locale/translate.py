"""Fill the zh-hans catalogues from locale/zh_hans*.py (msgid -> translation), then compile.

Usage: python locale/translate.py   (after `make messages` has updated the .po files)
Needs polib (pip install polib); reports msgids that have no translation yet.
"""

import runpy
from pathlib import Path

import polib

HERE = Path(__file__).resolve().parent
# zh_hans.py plus one zh_hans_<area>.py per area (routing, knowledge, ...), merged.
ZH = {}
for part in sorted(HERE.glob("zh_hans*.py")):
    ZH.update(runpy.run_path(str(part))["ZH"])

missing = []
for domain in ("django", "djangojs"):
    path = HERE / "zh_Hans" / "LC_MESSAGES" / f"{domain}.po"
    po = polib.pofile(str(path))
    po.metadata["Content-Type"] = "text/plain; charset=UTF-8"
    po.metadata["Language"] = "zh_Hans"
    for entry in po:
        if entry.msgid in ZH:
            entry.msgstr = ZH[entry.msgid]
            if "fuzzy" in entry.flags:
                entry.flags.remove("fuzzy")
        elif not entry.msgstr or "fuzzy" in entry.flags:
            # A fuzzy entry is msgmerge's guess from a similar msgid (often wrong); gettext
            # ignores it, so it is as untranslated as an empty one.
            missing.append(entry.msgid)
    po.save()
    po.save_as_mofile(str(path.with_suffix(".mo")))
    en = HERE / "en" / "LC_MESSAGES" / f"{domain}.po"
    if en.exists():
        polib.pofile(str(en)).save_as_mofile(str(en.with_suffix(".mo")))
for msgid in missing:
    print("untranslated:", msgid)
