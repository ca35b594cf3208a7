SELECT COUNT(*), COUNT(scisql_fluxToAbMag(psfFlux - 1e9)), SUM(scisql_fluxToAbMagSigma(psfFlux, -psfFluxErr) IS NULL) FROM Source
