SELECT sourceId, scisql_fluxToAbMag(psfFlux) AS m, scisql_fluxToAbMagSigma(psfFlux, psfFluxErr) AS dm, scisql_abMagToFlux(scisql_fluxToAbMag(psfFlux)) AS f FROM Source WHERE objectId < 2000
