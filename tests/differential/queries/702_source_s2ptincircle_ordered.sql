-- ordered
SELECT sourceId, ra, decl FROM Source WHERE scisql_s2PtInCircle(ra, decl, 359.8, 2, 0.4) = 1 AND psfFlux IS NOT NULL ORDER BY sourceId LIMIT 50
