"""Photographs (plates, textures) and HDRIs that install here from PyPI or Debian, with licences.

A research catalogue, not yet wired into training: each record names one file inside an
installable package, what it shows, its licence as the package states it, and the attribution the
licence asks for. Nothing here is downloaded at run time; the files appear once the packages below
are installed with their ordinary clients.

How it was assembled (Debian 12 "bookworm" archive as reached from these machines, PyPI as reached
from the project's ``.venv``):

- Debian: ``apt-get update``; ``apt-cache search`` for wallpaper, backgrounds, artwork, textures,
  photos, hdr/exr; each candidate fetched with ``apt-get download PKG``, unpacked with
  ``dpkg-deb -x``, every image opened (size, mode, ICC profile, sha256) and looked at on contact
  sheets to tell photographs from renders, paintings and vector art; licences read from
  ``/usr/share/doc/PKG/copyright`` (per ``Files:`` stanza where the file distinguishes) and from any
  licence/metadata file shipped next to the images.
- PyPI: ``pip download --no-deps`` of the few wheels that looked promising, unzipped and inspected
  the same way; the photos already inside the project's own wheels (scikit-image, scikit-learn,
  bpy) were read in place.

Install the sources (``--no-install-recommends`` keeps apt from pulling desktops in)::

    apt-get update
    apt-get install --no-install-recommends mate-backgrounds lomiri-wallpapers-16.04 \
        lomiri-wallpapers-20.04 plasma-workspace-wallpapers lxqt-themes     # ~193 MB download
    apt-get install --no-install-recommends torcs-data   # optional: 6 textures, 333 MB download
    pip install bpy scikit-image scikit-learn           # already project dependencies

Download / installed sizes are in :data:`PACKAGES`. ``lxqt-themes`` also installs the tiny
``lxqt-system-theme``; the others have no dependencies.

Which files may go where (issue 11 item 6, validation held out by file):

- ``in_training=True``: the 13 wheel photos that ``bgmatte.data.plates.PHOTO_SOURCES`` already
  uses for training. Never put them (or crops of them) in the validation set.
- Everything else was unused when this catalogue was written (``grep -rn studiolights core/``
  finds nothing, so the eight bpy HDRIs are unused too). The split, by file, is recorded here
  (:func:`split_of`, :attr:`CatalogueImage.split`, :func:`images_in_split`):

  - ``"validation"``: every photo of ``lomiri-wallpapers-16.04`` and ``lomiri-wallpapers-20.04``
    (15 photos, :data:`VALIDATION_PACKAGES`) and three of the eight bpy HDRIs, ``interior``
    (indoor), ``night`` (dark, sparse lights) and ``city`` (urban), :data:`VALIDATION_HDRIS`.
    Only ``bgmatte data --validation --photographic`` (``bgmatte.data.photo_validation``) reads them.
  - ``"training"``: everything else (mate, plasma, lxqt, torcs, the other five HDRIs, the wheel
    photos, ``in_training`` or not). Never mix: no crop of a validation file in a training bank, no
    training file in the validation set (the validation index lists every source file it used).
- Do NOT treat Debian's ``blender-data`` (3.4.1) ``studiolights/world/*.exr`` as new HDRIs: they
  are the same eight Poly Haven scenes as the bpy wheel's, re-encoded (pixel means differ by a few
  percent, the scenes are identical). Holding one copy out while training on the other leaks.

Gotchas:

- Every photograph is 8-bit, display-referred sRGB (JPEG or PNG, no raw, no 16-bit). None has an
  ICC profile other than sRGB (or none at all, treat as sRGB). They carry camera tone curves, JPEG
  compression and in a few cases heavy grading (``EveningGlow`` is an HDR-tone-mapped look,
  ``ColdRipple`` and ``Grey`` are near-monochrome, ``Grey`` is a single-channel "L" JPEG:
  ``cv2.IMREAD_COLOR`` makes it grey RGB). Linearising through sRGB EOTF gives plausible
  scene-linear values only up to 1.0; there are no true highlights above white except in the
  HDRIs. ``Valendas.png`` and the TORCS textures are RGBA (opaque alpha): drop the A channel.
- The only HDR photographs that install here are the eight 1024x512 bpy HDRIs (float EXR,
  DWAB-compressed, i.e. lossy, clamped at 32000). At 1024x512 for 360 degrees they are fine for
  lighting Blender scenes and reflections, far too soft to be a 1920 px plate (a 90 degree view is
  ~256 px wide).
- Sizes: the wallpapers are 1280-6028 px wide (most 2560+), so 1920 px full-resolution plates can
  be cut from all but a handful; portrait ones (``Wine``, ``friends``) give 2560/2056 px wide.
  The TORCS textures are 1024 px (tile or use as texture maps on procedural elements, not as
  plates); ``skimage`` ``clock_motion.png`` is 400x300.
- Versions: these are bookworm's packages. On another Debian release the versions (and for
  plasma/mate/lomiri possibly the file set) change; match by ``sha256_16`` and skip a missing file
  rather than failing, or pin the versions in the install step.
- Licences are free but mostly not public domain: CC0 (seeding, the bpy HDRIs, most skimage
  photos), CC-BY-4.0, CC-BY-SA-3.0/4.0, GPL-2+, LGPL-2.1+/LGPLv3. Using them as training data is
  allowed by all of them. What needs care is redistribution: a committed bank, validation crop or
  model-card picture made from a BY/BY-SA/GPL image is a derived copy and must carry the
  attribution below and the same licence (ShareAlike/copyleft); keep such derived files in a
  folder with its own licence notice, or regenerate them from the installed packages instead of
  committing them. Whether trained weights are a derived work is legally unsettled; the model card
  should list the sources and licences in any case.
- ``plasma-workspace-wallpapers``: Debian's copyright file says ``Files: *`` GPL-2+ (2014 KDE
  Visual Design Group) while each wallpaper's ``metadata.json`` says LGPLv3 and names its author;
  both are recorded. ``lxqt-themes``: Debian says ``Files: *`` LGPL-2.1+, the shipped
  ``/usr/share/lxqt/wallpapers/License`` says CC-BY-SA-3.0 (2022 LXQt Project Team) and credits
  stefonarch for eight photos; ``Valendas``, ``cloud`` and ``Butterfly-Kenneth-Wimer`` are not
  credited to anyone there (the last one's name says Kenneth Wimer). TORCS: only the package-wide
  GPL-2+ stanza covers the textures; the original photographers are not recorded.

Checked and rejected (bookworm versions):

- ``gnome-backgrounds`` 43.1 (all renders/vector art), ``ukui-wallpapers`` 20.04.3 and
  ``sway-backgrounds`` 1.7 (illustrations), ``xfdesktop4-data`` 4.18.1, ``desktop-base`` 12.0.6,
  ``debian-edu-artwork-emerald`` (vector themes); in the accepted packages: mate ``abstract/`` and
  ``desktop/`` (illustrations; ``Ubuntu-Mate-*-no-logo`` abstract bokeh), lomiri ``umang``,
  ``Fossa``, ``Infinite-Sea``, ``Painting-Colors``, ``warty-final-ubuntu`` (abstract/illustration),
  the other 19 plasma wallpapers and the lxqt origami/logo/plasma images (vector or 3D art).
- ``jigzo-data`` (one puzzle image CC-BY-NC-SA-1.0; images in a private ``.pzl`` format),
  ``gimp-data`` patterns (photographic but at most 160 px), ``extremetuxracer-data`` skyboxes
  (terrain renders), ``torcs-data`` track backgrounds (2048x512 strips that look like terrain
  renders), ``stellarium-data`` 0.22.2 landscapes (horizon strips with the sky cut out, at most
  2048x512, no per-file licence), ``hugin-data`` (small help screenshots), ``gcompris-qt-data``
  (images packed in Qt resources), ``blender-data`` HDRIs (duplicates, see above). Not opened:
  ``ufoai-textures``, ``openarena-081-textures`` (textures inside ``.pk3`` archives, mostly 512 px
  or less), ``supertuxkart-data`` / ``0ad-data`` / ``flightgear-data-base`` (0.6-1.4 GB each).
- PyPI: ``mahotas`` 1.4.19 (``DepartmentStore.jpg`` is a "Where's Wally" illustration and the wheel
  also ships ``lena.jpg``), ``ursina`` 7.0.0 (sky/shore textures are paintings), ``imageio`` 2.38.2
  and ``colour-hdri`` 0.2.6 (no images in the wheels), matplotlib ``grace_hopper.jpg`` (no licence
  text), scikit-image ``motorcycle_left/right.png`` (Middlebury 2014, no licence stated),
  ``moon.png`` and ``page.png`` (no licence stated). No PyPI wheel was found that ships HDRIs other
  than bpy.
"""
from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from bgmatte.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackageInfo:
    """One package that catalogue files come from, as checked."""

    manager: str
    """``"deb"`` or ``"pypi"``."""
    name: str
    version: str
    download_mb: float
    """Size of the ``.deb`` or wheel."""
    installed_mb: float
    install: str
    """The command that installs it."""
    optional: bool = False
    """A large download for few files: a split's files from it are used only when it is installed."""


@dataclass(frozen=True)
class CatalogueImage:
    """One photograph or HDRI inside an installable package."""

    manager: str
    """``"deb"`` or ``"pypi"``."""
    package: str
    version: str
    """The package version whose file was checked (size, licence, hash)."""
    path: str
    """deb: absolute path after ``apt-get install``; pypi: path under ``site-packages``."""
    width: int
    height: int
    licence: str
    """Licence as the package states it (SPDX-like names), with where it is stated."""
    attribution: str
    """Credit line the licence asks for (copyright holder / author as the package gives it)."""
    kind: str
    """``photo ...`` (a true photograph) or ``hdri ...`` (an HDR photograph), then what it shows."""
    sha256_16: str
    """First 16 hex digits of the file's SHA-256, to detect a changed file."""
    in_training: bool = False
    """True for files the training banks already use (never for validation)."""
    notes: str = ""

    @property
    def split(self) -> str:
        """``"validation"`` or ``"training"``: which set may use this file (see :func:`split_of`)."""
        return split_of(self)

    @property
    def name(self) -> str:
        """The file name without its folder and extension, e.g. ``night`` or ``Bridge_by_Sander_Klootwijk``."""
        return Path(self.path).stem


_DEB_INSTALL = "apt-get install --no-install-recommends "

PACKAGES: dict[str, PackageInfo] = {
    "mate-backgrounds": PackageInfo("deb", "mate-backgrounds", "1.26.0-1", 46.6, 46.0,
                                    _DEB_INSTALL + "mate-backgrounds"),
    "lomiri-wallpapers-16.04": PackageInfo("deb", "lomiri-wallpapers-16.04", "20.04.0-2", 15.8, 15.7,
                                           _DEB_INSTALL + "lomiri-wallpapers-16.04"),
    "lomiri-wallpapers-20.04": PackageInfo("deb", "lomiri-wallpapers-20.04", "20.04.0-2", 11.4, 11.7,
                                           _DEB_INSTALL + "lomiri-wallpapers-20.04"),
    "plasma-workspace-wallpapers": PackageInfo("deb", "plasma-workspace-wallpapers", "4:5.27.5-2", 94.0, 93.2,
                                               _DEB_INSTALL + "plasma-workspace-wallpapers"),
    "lxqt-themes": PackageInfo("deb", "lxqt-themes", "1.2.0-1", 25.8, 26.0,
                               _DEB_INSTALL + "lxqt-themes  # pulls lxqt-system-theme (small)"),
    "torcs-data": PackageInfo("deb", "torcs-data", "1.3.7+dfsg-5", 333.3, 533.5,
                              _DEB_INSTALL + "torcs-data", optional=True),
    "bpy": PackageInfo("pypi", "bpy", "5.0.1", 0.0, 821.0, "pip install bpy  # project dependency"),
    "scikit-image": PackageInfo("pypi", "scikit-image", "0.26.0", 0.0, 0.0,
                                "pip install scikit-image  # project dependency"),
    "scikit-learn": PackageInfo("pypi", "scikit-learn", "1.9.1", 0.0, 0.0,
                                "pip install scikit-learn  # project dependency"),
}
"""Per package: version checked, download and installed size in MB (0.0: not measured, already a
project dependency), install command."""


def _mate(name: str, w: int, h: int, holders: str, kind: str, sha: str) -> CatalogueImage:
    return CatalogueImage(
        "deb", "mate-backgrounds", "1.26.0-1", f"/usr/share/backgrounds/mate/nature/{name}.jpg", w, h,
        "GPL-2+ (debian/copyright, per-file stanza)", f"© {holders}; mate-backgrounds, GPL-2+", kind, sha)


def _lomiri(pkg: str, stem: str, w: int, h: int, licence: str, holder: str, kind: str, sha: str,
            notes: str = "") -> CatalogueImage:
    return CatalogueImage(
        "deb", pkg, "20.04.0-2", f"/usr/share/backgrounds/{stem}.jpg", w, h,
        f"{licence} (debian/copyright of lomiri-wallpapers, per-file stanza)",
        f"© {holder}; lomiri-wallpapers (UBports), {licence}", kind, sha, notes=notes)


def _plasma(name: str, author: str, kind: str, sha: str, notes: str = "") -> CatalogueImage:
    return CatalogueImage(
        "deb", "plasma-workspace-wallpapers", "4:5.27.5-2",
        f"/usr/share/wallpapers/{name}/contents/images/2560x1600.jpg", 2560, 1600,
        "GPL-2+ (debian/copyright, Files: *); LGPLv3 per the wallpaper's metadata.json",
        f"{author} (author per metadata.json); © 2014 KDE Visual Design Group; plasma-workspace-wallpapers",
        kind, sha, notes=notes)


_LXQT_LICENCE = ("CC-BY-SA-3.0 per /usr/share/lxqt/wallpapers/License; "
                 "LGPL-2.1+ per debian/copyright (Files: *)")


def _lxqt(file: str, w: int, h: int, credited: str | None, kind: str, sha: str, notes: str = "") -> CatalogueImage:
    who = f"{credited}; " if credited else ""
    if credited is None:
        notes = (notes + " " if notes else "") + "Photographer not credited in the package's License file."
    return CatalogueImage(
        "deb", "lxqt-themes", "1.2.0-1", f"/usr/share/lxqt/wallpapers/{file}", w, h, _LXQT_LICENCE,
        f"{who}© 2022 LXQt Project Team; lxqt-themes, CC-BY-SA-3.0", kind, sha, notes=notes)


def _torcs(stem: str, w: int, h: int, kind: str, sha: str) -> CatalogueImage:
    return CatalogueImage(
        "deb", "torcs-data", "1.3.7+dfsg-5", f"/usr/share/games/torcs/tracks/road/e-track-2/{stem}.png", w, h,
        "GPL-2+ (debian/copyright, Files: *)",
        "© 2000 Eric Espié, 2002 Christophe Guionneau, 2005 Bernhard Wymann, 2000 Andrea Alfieri; TORCS, GPL-2+",
        kind, sha, notes="RGBA, alpha opaque. 1024 px: a texture map, not a plate. Original photographer not recorded.")


_HDRI_LICENCE = "CC0-1.0 (bpy/5.0/datafiles/studiolights/world/license.txt)"
_HDRI_CREDIT = "Greg Zaal, Poly Haven (CC0, credit not required)"
_HDRI_NOTE = "float EXR, DWAB (lossy), clamped to [0, 32000]; equirectangular 360x180."


def _hdri(name: str, original: str, kind: str, sha: str) -> CatalogueImage:
    return CatalogueImage(
        "pypi", "bpy", "5.0.1", f"bpy/5.0/datafiles/studiolights/world/{name}.exr", 1024, 512,
        _HDRI_LICENCE, _HDRI_CREDIT, kind, sha, notes=f"Poly Haven original: {original}. {_HDRI_NOTE}")


def _wheel(dist: str, version: str, path: str, w: int, h: int, licence: str, credit: str, kind: str,
           sha: str, used: bool, notes: str = "") -> CatalogueImage:
    return CatalogueImage("pypi", dist, version, path, w, h, licence, credit, kind, sha, in_training=used, notes=notes)


_SKI = ("scikit-image", "0.26.0")
_SKL = ("scikit-learn", "1.9.1")

CATALOGUE: tuple[CatalogueImage, ...] = (
    # --- Debian mate-backgrounds 1.26.0-1: nature/ (12 photographs, GPL-2+) -------------------
    _mate("Aqua", 2560, 1600, "2008 Charles Barbin", "photo macro water drop, grey-blue, shallow DOF",
          "5c30118205982da4"),
    _mate("Blinds", 1920, 1200, "2008 Lennart Poettering, 2008 Andrea Cimitan",
          "photo foliage macro, backlit leaf veins",
          "f7aac0dcc2e06d04"),
    _mate("Dune", 1680, 1050, "2007 Marco Cogoni, 2008 Hylke Bons", "photo outdoor dune grass, sea and sky",
          "8a67c2cb0be8c46b"),
    _mate("FreshFlower", 1600, 1203, "2005 Jens Ansorg", "photo flower macro, saturated orange", "972b0a0c4e5e3fa9"),
    _mate("Garden", 2560, 1600, "2008 Charles Barbin", "photo flower macro, orange bokeh", "d3095ee09d425ef2"),
    _mate("GreenMeadow", 1280, 1024, "2005 Timothy Schellhase, 2008 Lapo Calamandrei",
          "photo foliage, dense grass blades close-up", "8fa0de0aa4089f73"),
    _mate("LadyBird", 2560, 1600, "2008 Charles Barbin", "photo foliage macro, flowers and ladybird, bokeh",
          "e35a9a4126ef969c"),
    _mate("RainDrops", 1920, 1200, "2008 \"blackcombwhistler07\"", "photo foliage macro, wet leaves with drops",
          "3e4ea9671c28c90a"),
    _mate("Storm", 1920, 1280, "2008 Sergey Nazarov", "photo outdoor storm sky over road, motion blur, dark",
          "77ca53077831d323"),
    _mate("TwoWings", 2560, 1600, "2008 Charles Barbin, 2008 Hylke Bons",
          "photo macro seed heads (fine strands) over orange bokeh", "665e5abf8a539907"),
    _mate("Wood", 2560, 1920, "2008 Jean-François Fortin Tam", "photo texture, weathered wooden boards, pale",
          "19c78500ac00a622"),
    _mate("YellowFlower", 2560, 1600, "2008 Charles Barbin", "photo flower macro, yellow on dark", "254da96256acb7ad"),
    # --- Debian lomiri-wallpapers-16.04 / -20.04 20.04.0-2 (15 photographs) -------------------
    _lomiri("lomiri-wallpapers-16.04", "Bridge_by_Sander_Klootwijk", 4352, 2448, "CC-BY-SA-4.0",
            "2018 Sander Klootwijk",
            "photo outdoor sky with bridge cables (thin lines), mudflat horizon", "bd86b081f9975e2b"),
    _lomiri("lomiri-wallpapers-16.04", "Dragonfly_by_Bolly", 4224, 3168, "CC-BY-SA-4.0", "2018 \"Bolly\"",
            "photo foliage against blue sky, leaves and twigs", "af5af17841009732"),
    _lomiri("lomiri-wallpapers-16.04", "Picture_0B_by_freespace", 2572, 1740, "CC-BY-4.0", "2018 Trevor \"Freespace\"",
            "photo still life, red bowl with fig on concrete, hard shadow", "c8c0ab18e48d9e04"),
    _lomiri("lomiri-wallpapers-16.04", "Picture_1A_by_freespace", 1365, 1074, "CC-BY-4.0", "2018 Trevor \"Freespace\"",
            "photo indoor close-up, paint brushes (bristles)", "89e86af38d04daae"),
    _lomiri("lomiri-wallpapers-16.04", "Wine_by_Jakkub_Mede", 2560, 3837, "CC-BY-4.0", "2018 Jakub Mede",
            "photo indoor living room, wine bottle, drum, wooden floor", "d2e96e6d4da40dd8", notes="portrait"),
    _lomiri("lomiri-wallpapers-16.04", "aitzgorri_by_Aitzol_Berasategi", 3088, 2056, "CC-BY-4.0",
            "2018 Aitzol Berasategi", "photo outdoor mountain landscape, autumn forest, meadow", "66268e7b48f8854d"),
    _lomiri("lomiri-wallpapers-16.04", "analogpattern_by_Peter_Nerlich", 2880, 2160, "CC-BY-SA-4.0",
            "2018 Peter Nerlich",
            "photo texture, frosted/structured glass with colour cast", "15372488a192b2be"),
    _lomiri("lomiri-wallpapers-16.04", "free_by_Peter_Nerlich", 2880, 2160, "CC-BY-SA-4.0", "2018 Peter Nerlich",
            "photo indoor, lamps and hanging bird figure, bright grey", "85a5453c2fed514c"),
    _lomiri("lomiri-wallpapers-16.04", "friends_by_Aitzol_Berasategi", 2056, 3088, "CC-BY-4.0",
            "2018 Aitzol Berasategi",
            "photo outdoor wooden house wall with dogs at window", "cc40e313c74e421e", notes="portrait"),
    _lomiri("lomiri-wallpapers-16.04", "greentock_by_Peter_Nerlich", 2880, 2160, "CC-BY-SA-4.0", "2018 Peter Nerlich",
            "photo indoor close-up, wall clock, grey and green", "e7b20e2db9dcd6e2"),
    _lomiri("lomiri-wallpapers-16.04", "life_by_Aitzol_Berasategi", 3088, 2056, "CC-BY-4.0", "2018 Aitzol Berasategi",
            "photo outdoor forest stream, rocks, foliage", "4c119350ead80201"),
    _lomiri("lomiri-wallpapers-16.04", "picosdeeuropa_by_Aitzol_Berasategi", 3264, 2448, "CC-BY-4.0",
            "2018 Aitzol Berasategi", "photo outdoor mountains, snow, clouds and sky, path", "414d0072b2f6f2c5"),
    _lomiri("lomiri-wallpapers-16.04", "seeding_by_Clements_Engelhardt", 5312, 2988, "CC0-1.0",
            "2018 Clemens Engelhardt",
            "photo outdoor backlit dandelion seed heads in grass", "a5634d1ab5e41a35"),
    _lomiri("lomiri-wallpapers-16.04", "sunset_by_Aitzol_Berasategi", 4272, 2848, "CC-BY-4.0", "2018 Aitzol Berasategi",
            "photo outdoor sunset with sun in frame, flare, hills", "474dab6a4b9f94dc"),
    _lomiri("lomiri-wallpapers-20.04", "Kleiber_by_Lukas_Baubkus", 6028, 3391, "CC-BY-SA-3.0", "2021 Lukas Baubkus",
            "photo outdoor tree bark close-up with nuthatch, snowy bokeh", "6572410c09f4492c"),
    # --- Debian plasma-workspace-wallpapers 4:5.27.5-2 (11 photographs, largest size 2560x1600) -
    _plasma("BytheWater", "Maciej Wiklo", "photo outdoor wooden pier at lake, evening", "c272434ef39f2abf"),
    _plasma("ColdRipple", "Risto Saukonpää", "photo outdoor pier in fog, near-monochrome", "05bef6722fc0ed81"),
    _plasma("ColorfulCups", "Dmitri Popov", "photo indoor still life, stacked cups from above", "6e0f3a72feb5a4a9",
            notes="Only one size shipped (2560x1600)."),
    _plasma("DarkestHour", "Risto Saukonpää", "photo night/dusk, misty lake, very dark blue", "8e3703fae3a3c217"),
    _plasma("EveningGlow", "Ian Hex", "photo outdoor boats on lakeshore at sunset", "586682dcb362b9f6",
            notes="HDR-tone-mapped look (strong local contrast)."),
    _plasma("FallenLeaf", "Martin Klapetek", "photo outdoor autumn leaves on ground, bokeh", "95603a6560c7e8d5"),
    _plasma("Grey", "Sigi Sagi", "photo architecture, curved facade bands, black and white", "88c31d8944b7e693",
            notes="Single-channel (L) JPEG."),
    _plasma("Kite", "Risto Saukonpää", "photo sky, blue with clouds and a small kite", "bdca288ce296a981"),
    _plasma("OneStandsOut", "Risto Saukonpää", "photo foliage from above, star-shaped seedlings, dark",
            "cb507baf1dafdcae"),
    _plasma("Path", "Risto Saukonpää", "photo outdoor forest path, tree trunks", "7477457d7f17b736"),
    _plasma("summer_1am", "Risto Saukonpää", "photo night twilight, calm lake and reeds, pastel sky",
            "c868b50789591dd4"),
    # --- Debian lxqt-themes 1.2.0-1 (11 photographs) ---------------------------------------------
    _lxqt("Butterfly-Kenneth-Wimer.jpg", 1920, 1278, None, "photo foliage macro, butterfly on thin stems, pale bokeh",
          "c237c26f6f0b18db", notes="File name credits Kenneth Wimer."),
    _lxqt("Valendas.png", 1920, 1277, None, "photo outdoor mountain ridges under storm clouds, low key",
          "f2d275c51d116942", notes="RGBA PNG, alpha opaque."),
    _lxqt("after-the-rain.jpg", 3000, 1993, "stefonarch", "photo outdoor dusk, lit clouds over dark horizon",
          "e6cb8b3e09b904cc"),
    _lxqt("appleflower.png", 3000, 1993, "stefonarch", "photo foliage macro, apple blossom over green bokeh",
          "bae8a8eb8274b295"),
    _lxqt("beam.png", 2592, 1944, "stefonarch", "photo outdoor sun beams through clouds, dark hills",
          "3d199194b048cb79"),
    _lxqt("butterfly.png", 3000, 1994, "stefonarch", "photo macro butterfly on thistle, dark bokeh",
          "13175434d99075e0"),
    _lxqt("cloud.png", 2048, 1536, None, "photo sky, altocumulus clouds", "522dbf79dfaff751"),
    _lxqt("drop.png", 2000, 1333, "stefonarch", "photo foliage macro, grass blade with dew drop", "3b726aea9a6f8af3"),
    _lxqt("flowers.png", 3000, 1993, "stefonarch", "photo outdoor meadow flowers, busy detail", "3a935d8be4d6c978"),
    _lxqt("fog.jpg", 2048, 1536, "stefonarch", "photo outdoor fog over hillside and field", "a8235344ee6b5ab1"),
    _lxqt("this-is-not-windows.jpg", 2048, 1536, "stefonarch", "photo outdoor green hills, blue sky",
          "2d885e0438c0ab24"),
    # --- Debian torcs-data 1.3.7+dfsg-5 (6 photographic textures, optional, large package) -------
    _torcs("rock-wall-e2", 1024, 1024, "photo texture, dry stone wall", "b304f50952ebc701"),
    _torcs("rock1-e2", 1024, 1024, "photo texture, rock face", "359e985085fe1fd8"),
    _torcs("gravel-e2", 1024, 1024, "photo texture, gravel", "eafa73c9776002be"),
    _torcs("grass-e2", 1024, 1024, "photo texture, lawn grass", "77e253224658bcce"),
    _torcs("house17facade", 1024, 512, "photo texture, brick office facade with windows", "af291fe23b6938a8"),
    _torcs("house23facade", 1024, 512, "photo texture, concrete office facade with windows", "a4bebe7277307f23"),
    # --- PyPI bpy 5.0.1: 8 CC0 HDRIs (unused so far) ---------------------------------------------
    _hdri("city", "portland_landing_pad", "hdri outdoor urban rooftop", "9e42abcd2fa3231e"),
    _hdri("courtyard", "courtyard", "hdri outdoor courtyard, daylight", "6690b47725965531"),
    _hdri("forest", "ninomaru_teien", "hdri outdoor garden/forest, daylight", "bdf2298244affa0f"),
    _hdri("interior", "hotel_room", "hdri indoor hotel room, window light", "e945ff5c1ddd7a3a"),
    _hdri("night", "moonless_golf (\"probably\", per license.txt)", "hdri outdoor night", "17480af5547465d1"),
    _hdri("studio", "studio_small_01 (\"probably\", per license.txt)", "hdri indoor photo studio", "c36c7fd390b2cdf8"),
    _hdri("sunrise", "spruit_sunrise", "hdri outdoor sunrise, open field", "6a1180126e4db7d0"),
    _hdri("sunset", "venice_sunset", "hdri outdoor sunset, city waterfront", "3bcafdda4f2d7b97"),
    # --- PyPI scikit-image 0.26.0: one unused photo --------------------------------------------
    _wheel(*_SKI, "skimage/data/clock_motion.png", 400, 300,
           "public domain, per skimage.data.clock docstring", "Stefan van der Walt (released into the public domain)",
           "photo indoor wall clock, horizontal camera-motion blur", "f029226b28b642e8", False,
           notes="Small (400x300), greyscale."),
    # --- Already used in training (bgmatte.data.plates.PHOTO_SOURCES): never for validation -----
    _wheel(*_SKI, "skimage/data/astronaut.png", 512, 512, "public domain (NASA), per skimage.data.astronaut", "NASA",
           "photo portrait, astronaut", "88431cd9653ccd53", True),
    _wheel(*_SKI, "skimage/data/brick.png", 512, 512, "CC0 (CC0Textures Bricks25), per skimage.data.brick",
           "CC0Textures", "photo texture brick, greyscale", "7966caf324f6ba84", True),
    _wheel(*_SKI, "skimage/data/camera.png", 512, 512, "CC0, per skimage.data.camera", "Lav Varshney",
           "photo outdoor cameraman, greyscale", "b0793d2adda0fa6a", True),
    _wheel(*_SKI, "skimage/data/chelsea.png", 451, 300, "CC0, per skimage.data.chelsea", "Stefan van der Walt",
           "photo indoor cat", "596aa1e7cb875eb7", True),
    _wheel(*_SKI, "skimage/data/coffee.png", 600, 400, "CC0, per skimage.data.coffee", "Rachel Michetti",
           "photo indoor coffee cup", "cc02f8ca188b167c", True),
    _wheel(*_SKI, "skimage/data/coins.png", 384, 303, "no known copyright restrictions, per skimage.data.coins",
           "Greek coins (scikit-image)", "photo coins, greyscale", "f8d773fc9cfa6f4d", True),
    _wheel(*_SKI, "skimage/data/grass.png", 512, 512, "CC0 (CC0Textures Grass), per skimage.data.grass", "CC0Textures",
           "photo texture grass, greyscale", "b6b6022426b38936", True),
    _wheel(*_SKI, "skimage/data/gravel.png", 512, 512, "CC0 (CC0Textures Gravel04), per skimage.data.gravel",
           "CC0Textures", "photo texture gravel, greyscale", "c48615b451bf1e60", True),
    _wheel(*_SKI, "skimage/data/hubble_deep_field.jpg", 1000, 872, "public domain (NASA), per skimage.data",
           "NASA", "photo night sky, galaxies", "3a19c5dd8a927a93", True),
    _wheel(*_SKI, "skimage/data/rocket.jpg", 640, 427, "public domain (SpaceX), per skimage.data.rocket", "SpaceX",
           "photo outdoor rocket launch", "c2dd0de7c538df8d", True),
    _wheel(*_SKI, "skimage/data/retina.jpg", 1411, 1411, "CC0 1.0, per skimage.data.retina", "scikit-image",
           "photo medical retina", "38a07f36f27f095e", True),
    _wheel(*_SKL, "sklearn/datasets/images/china.jpg", 640, 427,
           "CC BY 2.0, per sklearn/datasets/images/README.txt", "danielbuechele (Flickr)",
           "photo outdoor temple, sky", "8378025ad2519d64", True),
    _wheel(*_SKL, "sklearn/datasets/images/flower.jpg", 640, 427,
           "CC BY 2.0, per sklearn/datasets/images/README.txt", "vultilion (Flickr)",
           "photo flower macro", "a77f6ec41e353afd", True),
)
"""Every catalogued file; ``in_training`` marks the ones training already uses."""


VALIDATION_PACKAGES = ("lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04")
"""Debian packages whose photos are all held out for validation."""
VALIDATION_HDRIS = ("interior", "night", "city")
"""bpy HDRIs held out for validation: an indoor, the night and an urban one (the other five train)."""


def split_of(image: CatalogueImage) -> str:
    """``"validation"`` for the held-out files (:data:`VALIDATION_PACKAGES`' photos and
    :data:`VALIDATION_HDRIS`), ``"training"`` for every other catalogued file."""
    if image.in_training:
        return "training"
    if image.package in VALIDATION_PACKAGES:
        return "validation"
    if image.package == "bpy" and image.kind.startswith("hdri") and image.name in VALIDATION_HDRIS:
        return "validation"
    return "training"


def images_in_split(split: str) -> tuple[CatalogueImage, ...]:
    """Every catalogued file of one split (``"validation"`` or ``"training"``), in catalogue order."""
    if split not in ("validation", "training"):
        raise ValueError(f"split must be 'validation' or 'training', not {split!r}")
    return tuple(image for image in CATALOGUE if image.split == split)


def installed_path(image: CatalogueImage, deb_root: Path | None = None) -> Path:
    """Where ``image`` lies once its package is installed (the file may be absent if it is not).

    deb paths are absolute, or taken under ``deb_root`` when given (a chroot, or a folder the
    packages were unpacked into with ``dpkg-deb -x PKG.deb DIR``); a pypi path starts with the
    top-level import package, which is found without importing it.
    """
    if image.manager == "deb":
        return Path(image.path) if deb_root is None else Path(deb_root) / image.path.lstrip("/")
    top, _, rest = image.path.partition("/")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return Path(image.path)
    return Path(next(iter(spec.submodule_search_locations))) / rest


def installed_files(split: str, purpose: str, hdri_only: bool = False, deb_root: Path | None = None,
                    hint: str = "") -> list[tuple[CatalogueImage, Path]]:
    """Every file of one split that is installed, with its path; a package missing whole is an error.

    Files missing from a package that is otherwise there (another version) are skipped with a warning;
    an optional package (``PackageInfo.optional``) that is not installed is left out silently.

    Args:
        split: ``"validation"`` or ``"training"``.
        purpose: What needs the files, for the error line (e.g. "the photographic validation set").
        hdri_only: Only the bpy HDRIs of the split.
        deb_root: Folder the Debian paths are taken under (None: ``/``).
        hint: Appended to the error line (another way to go on).

    Raises:
        InputError: one line naming the packages that are not installed and the command that installs them.
    """
    images = [image for image in images_in_split(split) if not hdri_only or image.kind.startswith("hdri")]
    found, missing = [], {}
    for image in images:
        path = installed_path(image, deb_root)
        if path.is_file():
            found.append((image, path))
        else:
            missing.setdefault(image.package, []).append(image)
    found_packages = {image.package for image, _ in found}
    absent = [package for package in missing if package not in found_packages]
    for package in [package for package in absent if PACKAGES[package].optional]:
        absent.remove(package)
        del missing[package]
    if absent:
        debs = [package for package in absent if PACKAGES[package].manager == "deb"]
        commands = ([_DEB_INSTALL + " ".join(debs)] if debs else []) + [
            PACKAGES[package].install for package in absent if PACKAGES[package].manager != "deb"]
        raise InputError(", ".join(absent), f"not installed: {purpose} needs its photos; install with: "
                         f"{'; '.join(commands)}" + (f" ({hint})" if hint else ""))
    for package, images_missing in missing.items():
        log.warning("%s: %d catalogued file(s) missing from the installed package (another version?), "
                    "skipped: %s", package, len(images_missing), ", ".join(i.name for i in images_missing))
    return found
