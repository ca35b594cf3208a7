SELECT objectId, VAR_SAMP(psfFlux), VAR_POP(psfFlux), STDDEV(psfFlux) FROM Source WHERE objectId IN (13, 23, 1001) GROUP BY objectId
