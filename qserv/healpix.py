"""The healpy pixel functions we use, imported without the rest of healpy.

Why: `import healpy` also imports its FITS, rotation, spherical-transform and plotting
modules, and with them astropy: about 0.6 s at the start of every process that touches the
geometry (every `qserv partition` run, every czar and worker). The pixel functions live in
`healpy.pixelfunc` and the compiled `healpy._query_disc`, which need nothing of that (but
one decorator from astropy, ~0.1 s to import: a stand-in provides it, see _pixel_modules).

How: when healpy is not imported yet, those two modules are loaded under a bare stand-in for
the `healpy` package, and then the stand-in and the modules loaded with it are taken out of
`sys.modules` again, so that a later `import healpy` anywhere in the process runs healpy's own
package code as usual and gets modules of its own. Where healpy is imported already, its
functions are used directly. The functions are healpy's either way (same version, pinned).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np


def _pixel_modules():
    if "healpy" in sys.modules:
        return importlib.import_module("healpy.pixelfunc"), importlib.import_module("healpy._query_disc")
    spec = importlib.util.find_spec("healpy")
    before = set(sys.modules)
    stand_in = types.ModuleType("healpy")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["healpy"] = stand_in
    # pixelfunc's only use of healpy.utils.deprecation is astropy's decorator on two functions
    # we never call (remove_monopole/remove_dipole's old `verbose` argument): an identity
    # decorator here keeps astropy (~0.1 s) out of the process too.
    utils = types.ModuleType("healpy.utils")
    utils.__path__ = []
    deprecation = types.ModuleType("healpy.utils.deprecation")
    deprecation.deprecated_renamed_argument = lambda *args, **kwargs: (lambda f: f)
    sys.modules["healpy.utils"] = utils
    sys.modules["healpy.utils.deprecation"] = deprecation
    try:
        pixelfunc = importlib.import_module("healpy.pixelfunc")
        query = importlib.import_module("healpy._query_disc")
    finally:
        for name in set(sys.modules) - before:
            if name == "healpy" or name.startswith("healpy."):
                del sys.modules[name]
    return pixelfunc, query


_pixelfunc, _query_disc = _pixel_modules()

ang2pix = _pixelfunc.ang2pix
pix2ang = _pixelfunc.pix2ang
ang2vec = _pixelfunc.ang2vec
pix2vec = _pixelfunc.pix2vec
max_pixrad = _pixelfunc.max_pixrad
get_all_neighbours = _pixelfunc.get_all_neighbours
query_disc = _query_disc.query_disc
query_strip = _query_disc.query_strip
query_polygon = _query_disc.query_polygon


_ang2pix_nest = _pixelfunc.pixlib._ang2pix_nest


def nest_pixels(order: int, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Nested pixels (int64) at `order` of positions in degrees, as
    ang2pix(2**order, ra, dec, nest=True, lonlat=True) gives them, for float64 ra/dec that the
    caller has checked already (finite, dec within [-90, 90]): healpy's own conversion to
    co-latitude/longitude (the same operations, so the same pixels) and its compiled ang2pix,
    without its input checks (three more passes over every row of a block)."""
    return _ang2pix_nest(2 ** order, np.pi / 2.0 - np.radians(dec), np.radians(ra))
