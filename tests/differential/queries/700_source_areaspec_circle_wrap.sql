-- a cone on Source alone (its own ra/decl) across RA 0: pruned with Source's position margin
SELECT sourceId, objectId, filterId FROM Source WHERE qserv_areaspec_circle(0.1, -0.2, 0.8)
-- oracle: SELECT sourceId, objectId, filterId FROM Source WHERE scisql_s2PtInCircle(ra, decl, 0.1, -0.2, 0.8) = 1
