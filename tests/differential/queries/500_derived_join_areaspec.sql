SELECT o.objectId, s.n FROM Object o JOIN (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS s ON s.objectId = o.objectId WHERE qserv_areaspec_box(355, -1, 360, 1)
-- oracle: SELECT o.objectId, s.n FROM Object o JOIN (SELECT objectId, COUNT(*) AS n FROM Source GROUP BY objectId) AS s ON s.objectId = o.objectId WHERE scisql_s2PtInBox(o.ra, o.decl, 355, -1, 360, 1) = 1
