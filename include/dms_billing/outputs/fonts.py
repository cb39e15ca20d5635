"""The fonts every PDF is set in: shipped in ``include/fonts/`` and registered, where they lie,
with the Fontconfig of WeasyPrint's one font configuration of the process.

WeasyPrint's own way in, ``@font-face``, copies each font file into a temporary folder that it
removes only when its font configuration is garbage-collected. A task process ends with
``os._exit``, so every process that rendered a PDF left its copies behind (600 KB each; 110
folders in /tmp after one run of the suite). Registered in place, nothing is written.

Each family has names of our own ("Sokrio Noto Sans"): the templates put them first
(``include/templates/fonts.j2``), so a PDF takes these files even on a machine whose own Noto
has the same family names. Email clients know none of them and read on to the next family.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement, tostring

if TYPE_CHECKING:
    from weasyprint.text.fonts import FontConfiguration

FONTS = (Path(__file__).parents[2] / "fonts").resolve()
# The families the templates name, and their files with their weights: each file one subset of
# its family (a letter one lacks is taken from the next file, then from the next family named).
FAMILIES = {
    "Sokrio Noto Sans": (("noto-sans-latin-400-normal.ttf", 400), ("noto-sans-latin-ext-400-normal.ttf", 400),
                         ("noto-sans-latin-700-normal.ttf", 700), ("noto-sans-latin-ext-700-normal.ttf", 700)),
    "Sokrio Noto Sans Bengali": (("noto-sans-bengali-bengali-400-normal.ttf", 400),
                                 ("noto-sans-bengali-bengali-700-normal.ttf", 700)),
    "Sokrio Noto Sans Mono": (("noto-sans-mono-latin-400-normal.ttf", 400),),
}


def font_files() -> dict[Path, str]:
    """Every shipped font file and the family it is known by."""
    return {FONTS / name: family for family, files in FAMILIES.items() for name, _ in files}


def fontconfig_rules() -> bytes:
    """Fontconfig's configuration naming each file's family ours (as WeasyPrint does for an
    ``@font-face``: the family prepended, the font's own weight and style kept)."""
    root = Element("fontconfig")
    for path, family in font_files().items():
        match = SubElement(root, "match", target="scan")
        SubElement(SubElement(match, "test", name="file", compare="eq"), "string").text = path.as_posix()
        SubElement(SubElement(match, "edit", name="family", mode="prepend"), "string").text = family
    header = b'<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
    return header + tostring(root, encoding="utf-8")


def font_configuration() -> FontConfiguration:
    """A WeasyPrint font configuration that knows our fonts, read from ``include/fonts/``."""
    from weasyprint.text.ffi import ffi, fontconfig, pangoft2
    from weasyprint.text.fonts import FontConfiguration

    config = FontConfiguration()
    if not fontconfig.FcConfigParseAndLoadFromMemory(config._config, fontconfig_rules(), True):
        raise RuntimeError("Fontconfig refused the rules naming our fonts")
    for path in font_files():
        if not fontconfig.FcConfigAppFontAddFile(config._config, os.fsencode(path)):
            raise RuntimeError(f"Fontconfig could not read {path}")
    pangoft2.pango_fc_font_map_config_changed(ffi.cast("PangoFcFontMap *", config.font_map))
    return config


def font_face_css() -> str:
    """The same fonts as ``@font-face`` rules with ``file:`` URLs, for a browser on this machine
    (the layout tests); never part of an email."""
    return "\n".join(f"@font-face {{ font-family: '{family}'; font-weight: {weight}; src: url({(FONTS / name).as_uri()}); }}"
                     for family, files in FAMILIES.items() for name, weight in files)
