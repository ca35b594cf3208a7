SELECT COUNT(*), MAX(psfFlux) FROM Source WHERE objectId IN (14, 24)
