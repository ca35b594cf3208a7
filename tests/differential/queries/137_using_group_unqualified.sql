SELECT flags, SUM(psfFlux) FROM Object o JOIN Source s USING (objectId) GROUP BY flags
