-- COUNT(DISTINCT <director key>): counted per chunk, summed (czar/plan_aggregates.py colocated_distinct)
SELECT COUNT(DISTINCT objectId), COUNT(*), SUM(psfFlux) FROM Source WHERE psfFlux > 50
