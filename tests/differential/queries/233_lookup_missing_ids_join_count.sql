SELECT COUNT(*), AVG(s.psfFlux) FROM Object o JOIN Source s ON o.objectId = s.objectId WHERE o.objectId IN (999999901, 999999902)
