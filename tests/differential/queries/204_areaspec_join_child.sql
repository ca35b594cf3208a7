SELECT o.objectId, COUNT(*) AS n FROM Object o JOIN Source s ON o.objectId = s.objectId WHERE qserv_areaspec_box(355, -1, 360, 1) GROUP BY o.objectId
-- oracle: SELECT o.objectId, COUNT(*) AS n FROM Object o JOIN Source s ON o.objectId = s.objectId WHERE scisql_s2PtInBox(o.ra, o.decl, 355, -1, 360, 1) = 1 GROUP BY o.objectId
