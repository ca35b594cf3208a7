SELECT filterId, psfFlux IS NULL AS nf, COUNT(*), MIN(mjd), MAX(psfFluxErr) FROM Source GROUP BY filterId, nf
