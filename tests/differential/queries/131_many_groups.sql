SELECT objectId, COUNT(*), SUM(psfFlux) FROM Source GROUP BY objectId
