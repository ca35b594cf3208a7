SELECT SUM(psfFlux) / SUM(psfFluxErr) AS ratio FROM Source
