SELECT COUNT(*) AS n, SUM(psfFlux) AS f FROM Source WHERE qserv_areaspec_ellipse(150, 60, 3600, 1800, 20)
-- oracle: SELECT COUNT(*) AS n, SUM(psfFlux) AS f FROM Source WHERE scisql_s2PtInEllipse(ra, decl, 150, 60, 3600, 1800, 20) = 1
